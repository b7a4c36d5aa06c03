//! Go's text/template, the part Docker's `--format` users write, over JSON values.
//!
//! Written here rather than taken from `gtmpl` (0.7, the one Go-template crate): it prints
//! lists and maps as Rust's `Debug` (`[String("a")]`, where Go prints `[a]`), ranges over a
//! map in hash order (Go sorts the keys), and has no fields called with arguments, which
//! Docker's `{{.Label "k"}}` is. What is here: text with `{{ }}` actions and `{{-`/`-}}`
//! trimming, comments, pipelines with `|`, fields `.A.B`, `$`, variables (`$x := …`, `$x = …`),
//! parenthesized pipelines, string/number/bool/nil literals, `if`/`else if`/`else`,
//! `range` (over lists and maps, keys sorted, with `$i, $v :=`), `with`, Go's functions
//! (and or not len index print printf println eq ne lt le gt ge) and Docker's (json split
//! join title lower upper pad truncate). A method with arguments (`.Label "k"`) is an object
//! key `"\u{1}Label"` holding a map; such keys are hidden from `json` and from printing.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

/// Prefix of the keys that carry a method's table (see the module comment).
pub const METHOD: char = '\u{1}';

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` from dot (`.` alone is an empty path)
    Field(Vec<String>),
    /// `$x.A`
    Var(String, Vec<String>),
    Func(String),
    Lit(Value),
    /// `(pipeline).A`
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    /// `=` rather than `:=`
    assign: bool,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

/// A parsed template; `render` it against any number of values.
#[derive(Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt",
    "ge", "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
];

// ---- lexing: text and actions --------------------------------------------------------

/// One `{{ }}` action's inside, with its offset in the template for messages.
struct Action<'a> {
    body: &'a str,
    at: usize,
}

enum Piece<'a> {
    Text(String),
    Action(Action<'a>),
}

fn split(src: &str) -> Result<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let mut rest = 0;
    let mut trim_next = false;
    while let Some(i) = src[rest..].find("{{") {
        let open = rest + i;
        let mut text = &src[rest..open];
        if trim_next {
            text = text.trim_start();
        }
        let mut start = open + 2;
        let trim_left = src[start..].starts_with("- ")
            || src[start..].starts_with("-\t")
            || src[start..].starts_with("-\n");
        if trim_left {
            text = text.trim_end();
            start += 1;
        }
        out.push(Piece::Text(text.to_string()));
        let close = find_close(src, start).ok_or_else(|| err_at(src, open, "unclosed action"))?;
        let mut end = close;
        trim_next = false;
        if close > start && src[..close].ends_with(" -")
            || src[..close].ends_with("\t-")
            || src[..close].ends_with("\n-")
        {
            end -= 1;
            trim_next = true;
        }
        out.push(Piece::Action(Action {
            body: &src[start..end.max(start)],
            at: start,
        }));
        rest = close + 2;
    }
    let mut text = &src[rest..];
    if trim_next {
        text = text.trim_start();
    }
    out.push(Piece::Text(text.to_string()));
    Ok(out)
}

/// The `}}` that ends an action begun at `from`, skipping quoted strings.
fn find_close(src: &str, from: usize) -> Option<usize> {
    let b = src.as_bytes();
    let mut i = from;
    while i + 1 < b.len() {
        match b[i] {
            b'"' | b'`' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if q == b'"' && b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// "template: :LINE:COL: msg", as Go names a position.
fn err_at(src: &str, at: usize, msg: &str) -> anyhow::Error {
    let before = &src[..at.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    anyhow!("template: :{line}:{col}: {msg}")
}

// ---- tokens inside an action -----------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64, bool),
    Open,
    Close,
    Bar,
    Declare,
    Assign,
    Comma,
}

fn tokens(s: &str) -> std::result::Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::Open);
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!("more than {MAX_DEPTH} nested parentheses"));
                }
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
                // `(x).Field` keeps its field chain glued on
                if i < c.len() && c[i] == '.' {
                    let st = i;
                    while i < c.len() && (c[i] == '.' || c[i].is_alphanumeric() || c[i] == '_') {
                        i += 1;
                    }
                    out.push(Tok::Word(c[st..i].iter().collect()));
                }
            }
            '|' => {
                out.push(Tok::Bar);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            ':' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            match c.get(i) {
                                Some('n') => v.push('\n'),
                                Some('t') => v.push('\t'),
                                Some('\\') => v.push('\\'),
                                Some('"') => v.push('"'),
                                Some(x) => return Err(format!("unknown escape \\{x}")),
                                None => return Err("unterminated quoted string".into()),
                            }
                        }
                        Some(x) => v.push(*x),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(v));
            }
            '`' => {
                let st = i + 1;
                i = st;
                while i < c.len() && c[i] != '`' {
                    i += 1;
                }
                if i >= c.len() {
                    return Err("unterminated raw quoted string".into());
                }
                out.push(Tok::Str(c[st..i].iter().collect()));
                i += 1;
            }
            _ if ch.is_ascii_digit()
                || (ch == '-' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let st = i;
                i += 1;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                    i += 1;
                }
                let w: String = c[st..i].iter().collect();
                let n: f64 = w.parse().map_err(|_| format!("bad number syntax: {w:?}"))?;
                out.push(Tok::Num(n, !w.contains(['.', 'e', 'E'])));
            }
            _ if ch == '.' || ch == '$' || ch.is_alphabetic() || ch == '_' => {
                let st = i;
                i += 1;
                while i < c.len() && (c[i] == '.' || c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Word(c[st..i].iter().collect()));
            }
            _ => return Err(format!("unexpected {ch:?} in command")),
        }
    }
    Ok(out)
}

// ---- parsing ---------------------------------------------------------------------------

struct Parser<'a> {
    src: &'a str,
    pieces: std::vec::IntoIter<Piece<'a>>,
    /// blocks open around the current one
    depth: usize,
}

/// Deepest nesting of blocks or parentheses: the parser and the executor recurse, and a
/// template is outside input (a fuzzed one must not overflow the stack).
const MAX_DEPTH: usize = 100;

/// How a list of nodes ended.
enum Stop {
    Eof,
    End,
    Else(Option<Pipe>),
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        let pieces = split(src)?;
        let mut p = Parser {
            src,
            pieces: pieces.into_iter(),
            depth: 0,
        };
        let (nodes, end) = p.list()?;
        match end {
            Stop::Eof => Ok(Template { nodes }),
            _ => Err(err_at(src, src.len(), "unexpected {{end}} or {{else}}")),
        }
    }

    /// The template applied to `v`.
    pub fn render(&self, v: &Value) -> Result<String> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), Cow::Borrowed(v))];
        exec(&self.nodes, v, &mut vars, &mut out)?;
        Ok(out)
    }
}

impl Parser<'_> {
    fn list(&mut self) -> Result<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.next() {
            let a = match piece {
                Piece::Text(t) => {
                    if !t.is_empty() {
                        nodes.push(Node::Text(t));
                    }
                    continue;
                }
                Piece::Action(a) => a,
            };
            let body = a.body.trim();
            if body.starts_with("/*") {
                if !body.ends_with("*/") {
                    return Err(err_at(self.src, a.at, "unclosed comment"));
                }
                continue;
            }
            let toks = tokens(body).map_err(|m| err_at(self.src, a.at, &m))?;
            let kw = match toks.first() {
                Some(Tok::Word(w)) => w.as_str(),
                None => return Err(err_at(self.src, a.at, "missing value for command")),
                _ => "",
            };
            match kw {
                "end" if toks.len() == 1 => return Ok((nodes, Stop::End)),
                "else" => {
                    let rest = &toks[1..];
                    let pipe = match rest.first() {
                        None => None,
                        Some(Tok::Word(w)) if w == "if" => Some(self.pipe(&rest[1..], a.at)?),
                        _ => return Err(err_at(self.src, a.at, "unexpected token after else")),
                    };
                    return Ok((nodes, Stop::Else(pipe)));
                }
                "if" | "range" | "with" => {
                    let pipe = self.pipe(&toks[1..], a.at)?;
                    nodes.push(self.block(kw, pipe, a.at)?);
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(err_at(
                        self.src,
                        a.at,
                        &format!("{{{{{kw}}}}} is not supported"),
                    ))
                }
                _ => nodes.push(Node::Action(self.pipe(&toks, a.at)?)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn block(&mut self, kw: &str, pipe: Pipe, at: usize) -> Result<Node> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err_at(
                self.src,
                at,
                &format!("more than {MAX_DEPTH} nested blocks"),
            ));
        }
        let node = self.block_body(kw, pipe, at);
        self.depth -= 1;
        node
    }

    fn block_body(&mut self, kw: &str, pipe: Pipe, at: usize) -> Result<Node> {
        let (body, end) = self.list()?;
        let els = match end {
            Stop::Eof => {
                return Err(err_at(
                    self.src,
                    self.src.len(),
                    &format!("unexpected EOF: {{{{{kw}}}}} has no {{{{end}}}}"),
                ))
            }
            Stop::End => Vec::new(),
            Stop::Else(None) => match self.list()? {
                (e, Stop::End) => e,
                _ => {
                    return Err(err_at(
                        self.src,
                        at,
                        &format!("{{{{{kw}}}}}: expected {{{{end}}}} after {{{{else}}}}"),
                    ))
                }
            },
            Stop::Else(Some(p)) => {
                // `else if` is an if inside the else, sharing the one {{end}}
                vec![self.block("if", p, at)?]
            }
        };
        Ok(match kw {
            "if" => Node::If(pipe, body, els),
            "range" => Node::Range(pipe, body, els),
            _ => Node::With(pipe, body, els),
        })
    }

    fn pipe(&self, toks: &[Tok], at: usize) -> Result<Pipe> {
        let e = |m: &str| err_at(self.src, at, m);
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        // `$x :=`, `$i, $v :=`, `$x =`
        let is_var = |t: &Tok| matches!(t, Tok::Word(w) if w.starts_with('$') && !w.contains('.'));
        if rest.len() >= 2 && is_var(&rest[0]) {
            let (names, after) = match (&rest[1], rest.get(2), rest.get(3)) {
                (Tok::Declare | Tok::Assign, _, _) => (1, 1),
                (Tok::Comma, Some(t), Some(Tok::Declare)) if is_var(t) => (2, 3),
                _ => (0, 0),
            };
            if names > 0 {
                for t in &rest[..names * 2 - 1] {
                    if let Tok::Word(w) = t {
                        decl.push(w.clone());
                    }
                }
                assign = rest[after] == Tok::Assign;
                rest = &rest[after + 1..];
            }
        }
        let mut cmds = Vec::new();
        let mut pos = 0;
        loop {
            let (cmd, used) = self.command(&rest[pos..], at)?;
            if cmd.is_empty() {
                return Err(e("missing value for command"));
            }
            cmds.push(cmd);
            pos += used;
            match rest.get(pos) {
                None => break,
                Some(Tok::Bar) => pos += 1,
                Some(t) => return Err(e(&format!("unexpected {t:?} in operand"))),
            }
        }
        Ok(Pipe { decl, assign, cmds })
    }

    /// One command's arguments, up to `|`, `)` or the end; returns how many tokens it took.
    fn command(&self, toks: &[Tok], at: usize) -> Result<(Vec<Arg>, usize)> {
        let e = |m: &str| err_at(self.src, at, m);
        let mut args = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Bar | Tok::Close => break,
                Tok::Str(s) => args.push(Arg::Lit(Value::String(s.clone()))),
                Tok::Num(n, int) => args.push(Arg::Lit(if *int {
                    serde_json::json!(*n as i64)
                } else {
                    serde_json::json!(n)
                })),
                Tok::Word(w) => args.push(self.word(w, at)?),
                Tok::Open => {
                    let close = matching(&toks[i..]).ok_or_else(|| e("unclosed left paren"))?;
                    let inner = self.pipe(&toks[i + 1..i + close], at)?;
                    let mut fields = Vec::new();
                    if let Some(Tok::Word(w)) = toks.get(i + close + 1) {
                        if w.starts_with('.') {
                            fields = path(w);
                            i += 1;
                        }
                    }
                    args.push(Arg::Sub(Box::new(inner), fields));
                    i += close;
                }
                t => return Err(e(&format!("unexpected {t:?} in operand"))),
            }
            i += 1;
        }
        Ok((args, i))
    }

    fn word(&self, w: &str, at: usize) -> Result<Arg> {
        Ok(match w {
            "true" => Arg::Lit(Value::Bool(true)),
            "false" => Arg::Lit(Value::Bool(false)),
            "nil" => Arg::Lit(Value::Null),
            _ if w.starts_with('.') => Arg::Field(path(w)),
            _ if w.starts_with('$') => {
                let (name, rest) = w.split_at(w.find('.').unwrap_or(w.len()));
                Arg::Var(name.to_string(), path(rest))
            }
            _ if FUNCS.contains(&w) => Arg::Func(w.to_string()),
            _ => return Err(err_at(self.src, at, &format!("function {w:?} not defined"))),
        })
    }
}

fn path(w: &str) -> Vec<String> {
    w.split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Index (from 0 = the `(`) of the matching `)`.
fn matching(toks: &[Tok]) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

// ---- execution -------------------------------------------------------------------------

/// Variables in scope, innermost last; `$` borrows the rendered value (a row is not copied).
type Vars<'a> = Vec<(String, Cow<'a, Value>)>;

/// A missing map key: Go prints "<no value>" for it (explicit null prints "<nil>").
fn missing() -> Value {
    Value::String("\u{1}<no value>".into())
}

fn exec(nodes: &[Node], dot: &Value, vars: &mut Vars<'_>, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = pipe(p, dot, vars)?;
                if p.decl.is_empty() {
                    print(&v, out);
                }
            }
            Node::If(p, then, els) => {
                let mark = vars.len();
                let v = pipe(p, dot, vars)?;
                let r = exec(if truth(&v) { then } else { els }, dot, vars, out);
                vars.truncate(mark);
                r?
            }
            Node::With(p, then, els) => {
                let mark = vars.len();
                let v = pipe(p, dot, vars)?;
                let r = if truth(&v) {
                    exec(then, &v, vars, out)
                } else {
                    exec(els, dot, vars, out)
                };
                vars.truncate(mark);
                r?
            }
            Node::Range(p, body, els) => {
                let mut inner = p.clone();
                let names = std::mem::take(&mut inner.decl);
                let v = pipe(&inner, dot, vars)?;
                let items: Vec<(Value, Value)> = match &v {
                    Value::Array(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (i.into(), x.clone()))
                        .collect(),
                    Value::Object(m) => {
                        let sorted: BTreeMap<_, _> =
                            m.iter().filter(|(k, _)| !k.starts_with(METHOD)).collect();
                        sorted
                            .into_iter()
                            .map(|(k, x)| (Value::String(k.clone()), x.clone()))
                            .collect()
                    }
                    Value::Null => Vec::new(),
                    x if is_missing(x) => Vec::new(),
                    x => bail!("range can't iterate over {}", show(x)),
                };
                if items.is_empty() {
                    exec(els, dot, vars, out)?;
                    continue;
                }
                for (k, x) in items {
                    let mark = vars.len();
                    match names.as_slice() {
                        [one] => vars.push((one.clone(), Cow::Owned(x.clone()))),
                        [a, b] => {
                            vars.push((a.clone(), Cow::Owned(k)));
                            vars.push((b.clone(), Cow::Owned(x.clone())));
                        }
                        _ => {}
                    }
                    let r = exec(body, &x, vars, out);
                    vars.truncate(mark);
                    r?
                }
            }
        }
    }
    Ok(())
}

fn is_missing(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.starts_with(METHOD))
}

fn pipe(p: &Pipe, dot: &Value, vars: &mut Vars<'_>) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for cmd in &p.cmds {
        prev = Some(command(cmd, dot, vars, prev)?);
    }
    let v = prev.unwrap_or(Value::Null);
    match (p.decl.as_slice(), p.assign) {
        ([name], true) => match vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = Cow::Owned(v.clone()),
            None => bail!("undefined variable: {name}"),
        },
        ([name], false) => vars.push((name.clone(), Cow::Owned(v.clone()))),
        _ => {}
    }
    Ok(v)
}

fn command(cmd: &[Arg], dot: &Value, vars: &mut Vars<'_>, fin: Option<Value>) -> Result<Value> {
    let first = &cmd[0];
    let mut args = Vec::new();
    for a in &cmd[1..] {
        args.push(arg(a, dot, vars)?);
    }
    if let Some(f) = fin.clone() {
        args.push(f);
    }
    match first {
        Arg::Func(name) => call(name, &args),
        // `.Label "k"`: a method with arguments
        Arg::Field(p) if !args.is_empty() && !p.is_empty() => {
            let (last, head) = p.split_last().ok_or_else(|| anyhow!("empty field"))?;
            let recv = walk(dot, head)?;
            method(&recv, last, &args)
        }
        _ if !args.is_empty() => bail!("can't give argument to non-function {}", describe(first)),
        _ => arg(first, dot, vars),
    }
}

fn method(recv: &Value, name: &str, args: &[Value]) -> Result<Value> {
    let table = recv.get(format!("{METHOD}{name}"));
    match (table, args) {
        (Some(t), [Value::String(k)]) => Ok(t.get(k).cloned().unwrap_or_else(|| "".into())),
        // a header row: the method's name holds its column title
        (None, _) if recv.get(name).is_some() => Ok(recv.get(name).cloned().unwrap_or_default()),
        _ => bail!("{name} is not a method taking {} argument(s)", args.len()),
    }
}

fn describe(a: &Arg) -> String {
    match a {
        Arg::Field(p) => format!(".{}", p.join(".")),
        Arg::Var(n, p) => format!(
            "{n}{}",
            p.iter().map(|x| format!(".{x}")).collect::<String>()
        ),
        Arg::Lit(v) => v.to_string(),
        Arg::Func(n) => n.clone(),
        Arg::Sub(..) => "(…)".into(),
    }
}

fn arg(a: &Arg, dot: &Value, vars: &mut Vars<'_>) -> Result<Value> {
    match a {
        Arg::Field(p) => walk(dot, p),
        Arg::Var(name, p) => match vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => walk(v, p),
            None => bail!("undefined variable: {name}"),
        },
        Arg::Lit(v) => Ok(v.clone()),
        Arg::Func(name) => call(name, &[]),
        Arg::Sub(p, fields) => {
            let v = pipe(p, dot, vars)?;
            walk(&v, fields)
        }
    }
}

/// The value at `path` below `v`; only that value is copied, not what it was found in.
fn walk(v: &Value, path: &[String]) -> Result<Value> {
    let mut cur = v;
    for (i, f) in path.iter().enumerate() {
        cur = match cur {
            // A hidden key (METHOD and the name) is a Go field whose JSON name differs
            // (an event's `.Status` beside its `status`): found here, never printed.
            Value::Object(m) => match m.get(f).or_else(|| m.get(&format!("{METHOD}{f}"))) {
                Some(x) => x,
                // missing: an error one step further down, else the missing value
                None if i + 1 < path.len() => {
                    bail!("nil pointer evaluating .{}", path[..=i + 1].join("."))
                }
                None => return Ok(missing()),
            },
            Value::Null => bail!("nil pointer evaluating .{}", path[..=i].join(".")),
            x if is_missing(x) => bail!("nil pointer evaluating .{}", path[..=i].join(".")),
            x => bail!("can't evaluate field {f} in type {}", kind(x)),
        };
    }
    Ok(cur.clone())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
        Value::Null => "nil",
    }
}

fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && !is_missing(v),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Go's `%v` of a value, as `{{.X}}` prints it.
pub fn show(v: &Value) -> String {
    let mut s = String::new();
    print(v, &mut s);
    s
}

fn print(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        x if is_missing(x) => out.push_str("<no value>"),
        Value::String(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => {
                let _ = write!(out, "{i}");
            }
            (_, Some(u), _) => {
                let _ = write!(out, "{u}");
            }
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => {
                // a JSON number that was an integer in Go's struct
                let _ = write!(out, "{f:.0}");
            }
            (_, _, Some(f)) => {
                let _ = write!(out, "{f}");
            }
            _ => {}
        },
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push_str("map[");
            let sorted: BTreeMap<_, _> = m.iter().filter(|(k, _)| !k.starts_with(METHOD)).collect();
            for (i, (k, x)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                print(x, out);
            }
            out.push(']');
        }
    }
}

/// A value without its method tables, for `json`.
fn plain(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with(METHOD))
                .map(|(k, x)| (k.clone(), plain(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(plain).collect()),
        x if is_missing(x) => Value::Null,
        x => x.clone(),
    }
}

mod funcs;
use funcs::call;

#[cfg(test)]
mod tests;
