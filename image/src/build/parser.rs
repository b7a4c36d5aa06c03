//! The Dockerfile parser: text -> typed instructions (instructions.rs), after Docker's
//! reference and buildkit's `frontend/dockerfile/parser/` (directives, continuations,
//! heredocs) and `instructions/parse.go` (each instruction's arguments and flags).
//!
//! Written by hand: no maintained Rust crate parses the whole grammar (heredocs, escape
//! directive, flags) with line numbers for errors. Every error carries the file, the line,
//! the instruction's text and what was expected.

use std::fmt;

use super::instructions::*;
use super::words::split_raw;

/// A Dockerfile that does not parse: where, what, and what was expected.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub text: String,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.msg)?;
        if !self.text.is_empty() {
            write!(f, " (in {:?})", self.text)?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

const FLAGS_FROM: &[&str] = &["platform"];
const FLAGS_RUN: &[&str] = &["network"];
const FLAGS_COPY: &[&str] = &["from", "chown", "chmod", "link"];
const FLAGS_ADD: &[&str] = &["chown", "chmod", "link", "checksum"];
const FLAGS_HEALTH: &[&str] = &[
    "interval",
    "timeout",
    "start-period",
    "start-interval",
    "retries",
];

/// Parses Dockerfile text; `file` names it in errors.
pub fn parse(src: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = src
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let err = |line: usize, text: &str, msg: String| ParseError {
        file: file.to_string(),
        line,
        text: text.to_string(),
        msg,
    };
    // Parser directives: `# key=value` lines at the very top, before anything else.
    let mut escape = '\\';
    let mut syntax = None;
    let mut i = 0;
    let mut seen = Vec::new();
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else {
            break;
        };
        if seen.contains(&k) {
            return Err(err(
                i + 1,
                lines[i],
                format!("the {k} directive is given twice"),
            ));
        }
        match k.as_str() {
            "escape" => {
                escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(err(
                            i + 1,
                            lines[i],
                            format!("invalid escape character {v:?}: want \\ or `"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(v),
            _ => {} // check= and others: accepted, not used
        }
        seen.push(k);
        i += 1;
    }
    let mut instructions = Vec::new();
    while i < lines.len() {
        let trimmed = lines[i].trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        // Continuations: a line ending in the escape character goes on in the next one;
        // comment and empty lines inside are skipped (as Docker does).
        loop {
            let l = lines[i].trim_end();
            i += 1;
            match l.strip_suffix(escape) {
                Some(head) => {
                    text.push_str(head);
                    while i < lines.len() && {
                        let t = lines[i].trim();
                        t.is_empty() || t.starts_with('#')
                    } {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                }
                None => {
                    text.push_str(l);
                    break;
                }
            }
        }
        let text = text.trim().to_string();
        let (kw, rest) = match text.split_once(char::is_whitespace) {
            Some((k, r)) => (k.to_string(), r.trim_start().to_string()),
            None => (text.clone(), String::new()),
        };
        let kw_upper = kw.to_ascii_uppercase();
        // Here-documents follow the instruction's last line.
        let mut heredocs = Vec::new();
        if matches!(kw_upper.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, chomp, expand) in heredoc_markers(&rest, escape) {
                let mut body = String::new();
                loop {
                    let Some(l) = lines.get(i) else {
                        return Err(err(
                            start + 1,
                            &text,
                            format!(
                                "here-document <<{name} is not terminated: want a line {name:?}"
                            ),
                        ));
                    };
                    i += 1;
                    let l = if chomp { l.trim_start_matches('\t') } else { l };
                    if l == name {
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                heredocs.push(Heredoc { name, body, expand });
            }
        }
        let cmd = instruction(&kw_upper, &rest, heredocs, escape)
            .map_err(|m| err(start + 1, &text, m))?;
        instructions.push(Instruction {
            line: start + 1,
            text,
            cmd,
        });
    }
    if !instructions
        .iter()
        .any(|x| matches!(x.cmd, Cmd::From { .. }))
    {
        return Err(err(
            1,
            "",
            "no FROM instruction: a Dockerfile must start with FROM (after ARGs)".into(),
        ));
    }
    if let Some(x) = instructions
        .iter()
        .take_while(|x| !matches!(x.cmd, Cmd::From { .. }))
        .find(|x| !matches!(x.cmd, Cmd::Arg(_)))
    {
        return Err(err(
            x.line,
            &x.text,
            format!(
                "{} before the first FROM: only ARG may come first",
                x.cmd.keyword()
            ),
        ));
    }
    Ok(Dockerfile {
        escape,
        syntax,
        instructions,
    })
}

/// `# key = value` as a parser directive (key lower-cased), or None.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// The here-document markers in an instruction's text, outside quotes: (name, `<<-`,
/// unquoted).
fn heredoc_markers(s: &str, escape: char) -> Vec<(String, bool, bool)> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else if c == escape && q == '"' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == escape {
            i += 2;
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == '<' && chars.get(i + 1) == Some(&'<') && chars.get(i + 2) != Some(&'<') {
            let mut j = i + 2;
            let chomp = chars.get(j) == Some(&'-');
            if chomp {
                j += 1;
            }
            let q = match chars.get(j) {
                Some(&c) if c == '"' || c == '\'' => {
                    j += 1;
                    Some(c)
                }
                _ => None,
            };
            let st = j;
            while chars
                .get(j)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.' || *c == '-')
            {
                j += 1;
            }
            let name: String = chars[st..j].iter().collect();
            let closed = match q {
                Some(q) if chars.get(j) == Some(&q) => {
                    j += 1;
                    true
                }
                Some(_) => false,
                None => true,
            };
            if !name.is_empty() && closed {
                out.push((name, chomp, q.is_none()));
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Leading `--name[=value]` flags, checked against `allowed`; returns them and the rest.
/// `--name[=value]` flags as given.
type Flags = Vec<(String, Option<String>)>;

fn flags(rest: &str, allowed: &[&str]) -> Result<(Flags, String), String> {
    let mut out = Vec::new();
    let mut r = rest.trim_start();
    while let Some(f) = r.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let (tok, tail) = f.split_at(end);
        let (name, value) = match tok.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (tok, None),
        };
        if !allowed.contains(&name) {
            return Err(if allowed.is_empty() {
                format!("unknown flag --{name}: this instruction takes no flags")
            } else {
                format!(
                    "unknown flag --{name}: want {}",
                    allowed
                        .iter()
                        .map(|a| format!("--{a}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        }
        out.push((name.to_string(), value));
        r = tail.trim_start();
    }
    Ok((out, r.to_string()))
}

fn flag_value(fl: &[(String, Option<String>)], name: &str) -> Result<Option<String>, String> {
    match fl.iter().rev().find(|(n, _)| n == name) {
        Some((_, Some(v))) => Ok(Some(v.clone())),
        Some((_, None)) => Err(format!("flag --{name} needs a value: --{name}=VALUE")),
        None => Ok(None),
    }
}

fn flag_bool(fl: &[(String, Option<String>)], name: &str) -> Result<bool, String> {
    match fl.iter().rev().find(|(n, _)| n == name) {
        Some((_, None)) => Ok(true),
        Some((_, Some(v))) => match v.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("flag --{name}={v}: want true or false")),
        },
        None => Ok(false),
    }
}

/// A JSON array of strings (exec form), if `rest` is one.
fn json_array(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn cmdline(rest: &str, what: &str) -> Result<CmdLine, String> {
    if let Some(v) = json_array(rest) {
        return Ok(CmdLine::Exec(v));
    }
    if rest.trim().is_empty() {
        return Err(format!(
            "{what} needs a command: {what} [\"exe\", \"arg\"] or {what} command args"
        ));
    }
    Ok(CmdLine::Shell(rest.to_string()))
}

fn need_one(rest: &str, what: &str, want: &str) -> Result<String, String> {
    if rest.trim().is_empty() {
        return Err(format!("{what} needs an argument: {want}"));
    }
    Ok(rest.trim().to_string())
}

/// `key=value` words (ENV, LABEL): the legacy `KEY value` form becomes one word.
fn name_values(rest: &str, what: &str, escape: char) -> Result<Vec<String>, String> {
    let words = split_raw(rest, escape);
    if words.is_empty() {
        return Err(format!("{what} needs at least one key=value"));
    }
    if !words[0].contains('=') {
        if words.len() < 2 {
            return Err(format!(
                "{what} {:?}: want {what} key=value (or the legacy {what} key value)",
                words[0]
            ));
        }
        // Legacy form: the value is the rest of the line as written.
        let value = rest.trim_start()[words[0].len()..].trim();
        return Ok(vec![format!("{}={value}", words[0])]);
    }
    for w in &words {
        match w.split_once('=') {
            Some((k, _)) if !k.is_empty() => {}
            _ => return Err(format!("{what}: {w:?} is not key=value")),
        }
    }
    Ok(words)
}

fn copy_args(
    what: &str,
    rest: &str,
    fl: &[(String, Option<String>)],
    heredocs: Vec<Heredoc>,
    escape: char,
) -> Result<CopyArgs, String> {
    let words = json_array(rest).unwrap_or_else(|| split_raw(rest, escape));
    if words.len() < 2 {
        return Err(format!(
            "{what} needs a source and a destination: {what} SRC... DEST"
        ));
    }
    let (srcs, dest) = words.split_at(words.len() - 1);
    let chmod = flag_value(fl, "chmod")?;
    if let Some(m) = &chmod {
        if u32::from_str_radix(m, 8).map_or(true, |v| v > 0o7777) {
            return Err(format!("--chmod={m}: want an octal mode such as 0755"));
        }
    }
    Ok(CopyArgs {
        srcs: srcs.to_vec(),
        dest: dest[0].clone(),
        from: flag_value(fl, "from")?,
        chown: flag_value(fl, "chown")?,
        chmod,
        link: flag_bool(fl, "link")?,
        checksum: flag_value(fl, "checksum")?,
        heredocs,
    })
}

/// One instruction's arguments, typed.
fn instruction(kw: &str, rest: &str, heredocs: Vec<Heredoc>, escape: char) -> Result<Cmd, String> {
    let allowed: &[&str] = match kw {
        "FROM" => FLAGS_FROM,
        "RUN" => FLAGS_RUN,
        "COPY" => FLAGS_COPY,
        "ADD" => FLAGS_ADD,
        "HEALTHCHECK" => FLAGS_HEALTH,
        _ => &[],
    };
    let (fl, rest) = if rest.starts_with("--") && kw != "ONBUILD" {
        flags(rest, allowed)?
    } else {
        (Vec::new(), rest.to_string())
    };
    let rest = rest.as_str();
    Ok(match kw {
        "FROM" => {
            let w: Vec<&str> = rest.split_whitespace().collect();
            let name = match w.as_slice() {
                [_] => None,
                [_, as_, n] if as_.eq_ignore_ascii_case("as") => Some(n.to_ascii_lowercase()),
                _ => {
                    return Err(
                        "FROM wants an image and an optional stage name: FROM IMAGE [AS NAME]"
                            .into(),
                    )
                }
            };
            if let Some(n) = &name {
                let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                if !ok {
                    return Err(format!(
                        "invalid stage name {n:?}: want a letter, then letters, digits, _ - ."
                    ));
                }
            }
            Cmd::From {
                image: w[0].to_string(),
                name,
                platform: flag_value(&fl, "platform")?,
            }
        }
        "RUN" => {
            if rest.trim().is_empty() {
                return Err("RUN needs a command: RUN [\"exe\", \"arg\"] or RUN command".into());
            }
            let cmd = if heredocs.is_empty() {
                cmdline(rest, "RUN")?
            } else {
                CmdLine::Shell(rest.to_string())
            };
            let network = flag_value(&fl, "network")?;
            if let Some(n) = &network {
                if !matches!(n.as_str(), "default" | "none" | "host") {
                    return Err(format!("--network={n}: want default, none or host"));
                }
            }
            Cmd::Run {
                cmd,
                heredocs,
                network,
            }
        }
        "CMD" => Cmd::Cmd(cmdline(rest, "CMD")?),
        "ENTRYPOINT" => Cmd::Entrypoint(cmdline(rest, "ENTRYPOINT")?),
        "COPY" => Cmd::Copy(copy_args("COPY", rest, &fl, heredocs, escape)?),
        "ADD" => Cmd::Add(copy_args("ADD", rest, &fl, heredocs, escape)?),
        "ENV" => Cmd::Env(name_values(rest, "ENV", escape)?),
        "LABEL" => Cmd::Label(name_values(rest, "LABEL", escape)?),
        "ARG" => {
            let w = split_raw(rest, escape);
            if w.is_empty() {
                return Err("ARG needs a name: ARG NAME[=default]".into());
            }
            for a in &w {
                let name = a.split_once('=').map_or(a.as_str(), |(k, _)| k);
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("ARG {a:?}: want NAME or NAME=default"));
                }
            }
            Cmd::Arg(w)
        }
        "WORKDIR" => Cmd::Workdir(need_one(rest, "WORKDIR", "WORKDIR /path")?),
        "USER" => Cmd::User(need_one(rest, "USER", "USER name[:group]")?),
        "STOPSIGNAL" => Cmd::StopSignal(need_one(rest, "STOPSIGNAL", "STOPSIGNAL SIGTERM")?),
        "MAINTAINER" => Cmd::Maintainer(need_one(rest, "MAINTAINER", "MAINTAINER name")?),
        "EXPOSE" => {
            let w = split_raw(rest, escape);
            if w.is_empty() {
                return Err("EXPOSE needs a port: EXPOSE 80[/tcp]".into());
            }
            Cmd::Expose(w)
        }
        "VOLUME" => {
            let w = json_array(rest).unwrap_or_else(|| split_raw(rest, escape));
            if w.is_empty() || w.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME needs a path: VOLUME /data".into());
            }
            Cmd::Volume(w)
        }
        "SHELL" => match json_array(rest) {
            Some(v) if !v.is_empty() => Cmd::Shell(v),
            _ => {
                return Err(
                    "SHELL wants a JSON array of strings: SHELL [\"/bin/sh\", \"-c\"]".into(),
                )
            }
        },
        "HEALTHCHECK" => {
            let t = rest.trim();
            let (head, tail) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            let test = match head.to_ascii_uppercase().as_str() {
                "NONE" if tail.trim().is_empty() => vec!["NONE".to_string()],
                "CMD" => match cmdline(tail, "HEALTHCHECK CMD")? {
                    CmdLine::Exec(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                    CmdLine::Shell(s) => vec!["CMD-SHELL".into(), s],
                },
                _ => return Err("HEALTHCHECK wants NONE or [OPTIONS] CMD command".into()),
            };
            let retries = match flag_value(&fl, "retries")? {
                Some(r) => Some(
                    r.parse::<u32>()
                        .map_err(|_| format!("--retries={r}: want a whole number"))?,
                ),
                None => None,
            };
            Cmd::Healthcheck(Health {
                test,
                interval: flag_value(&fl, "interval")?,
                timeout: flag_value(&fl, "timeout")?,
                start_period: flag_value(&fl, "start-period")?,
                start_interval: flag_value(&fl, "start-interval")?,
                retries,
            })
        }
        "ONBUILD" => {
            let t = rest.trim();
            let inner = t
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match inner.as_str() {
                "" => return Err("ONBUILD needs an instruction: ONBUILD RUN ...".into()),
                "ONBUILD" | "FROM" | "MAINTAINER" => {
                    return Err(format!("{inner} is not allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            // The trigger must itself parse.
            let irest = t[inner.len()..].trim_start();
            instruction(&inner, irest, Vec::new(), escape)?;
            Cmd::Onbuild(t.to_string())
        }
        other => {
            return Err(format!(
                "unknown instruction {other}: want FROM, RUN, CMD, LABEL, EXPOSE, ENV, ADD, COPY, \
                 ENTRYPOINT, VOLUME, USER, WORKDIR, ARG, ONBUILD, STOPSIGNAL, HEALTHCHECK, SHELL"
            ))
        }
    })
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
