//! `.dockerignore`: which context paths a build may not see, with Docker's rules
//! (moby/patternmatcher): one pattern a line, `#` comments, leading `/` and `./` dropped,
//! `*` and `?` within one path element, `**` across any number of them, `[a-z]` classes,
//! `\` escapes, `!` re-includes; the last pattern that matches decides, and a pattern that
//! matches a directory excludes everything beneath it.

/// The longest pattern taken.
const MAX_PATTERN: usize = 4096;

/// The compiled patterns of one .dockerignore.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    glob: Vec<char>,
    exception: bool,
}

/// Cleans a pattern or path as Go's filepath.Clean would for these: no leading `/` or `./`,
/// no empty or `.` elements, `..` folded.
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for el in p.split('/') {
        match el {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            e => out.push(e),
        }
    }
    out.join("/")
}

impl Matcher {
    /// Compiles the text of a .dockerignore. An empty text excludes nothing.
    pub fn new(text: &str) -> Result<Matcher, String> {
        let mut patterns = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let (exception, body) = match t.strip_prefix('!') {
                Some(b) => (true, b.trim()),
                None => (false, t),
            };
            let glob: Vec<char> = clean(body).chars().collect();
            // Matching recurses once per `*`: a bound keeps the stack small.
            if glob.len() > MAX_PATTERN {
                return Err(format!(
                    ".dockerignore:{}: a pattern longer than {MAX_PATTERN} characters",
                    n + 1
                ));
            }
            if glob.is_empty() {
                if exception {
                    return Err(format!(".dockerignore:{}: a lone ! names nothing", n + 1));
                }
                continue;
            }
            check_classes(&glob).map_err(|e| format!(".dockerignore:{}: {e}", n + 1))?;
            patterns.push(Pattern { glob, exception });
        }
        Ok(Matcher { patterns })
    }

    /// Whether any pattern re-includes paths (then an excluded directory is still walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether the context path `path` (relative, `/`-separated) is excluded.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        if path.is_empty() {
            return false;
        }
        let s: Vec<char> = path.chars().collect();
        let mut out = false;
        for p in &self.patterns {
            if matches_or_parent(&p.glob, &s) {
                out = !p.exception;
            }
        }
        out
    }
}

fn check_classes(g: &[char]) -> Result<(), String> {
    let mut i = 0;
    while i < g.len() {
        match g[i] {
            '\\' => i += 2,
            '[' => match g[i + 1..].iter().position(|&c| c == ']') {
                Some(end) => i += end + 2,
                None => return Err("unclosed [ in a pattern".into()),
            },
            _ => i += 1,
        }
    }
    Ok(())
}

/// The pattern matches the path or one of its parent directories.
fn matches_or_parent(g: &[char], s: &[char]) -> bool {
    if glob(g, s) {
        return true;
    }
    s.iter()
        .enumerate()
        .filter(|(_, &c)| c == '/')
        .any(|(i, _)| glob(g, &s[..i]))
}

/// Glob match of a whole path (memoised: `**` and `*` backtrack).
pub fn glob(g: &[char], s: &[char]) -> bool {
    let mut memo = vec![None; (g.len() + 1) * (s.len() + 1)];
    m(g, s, 0, 0, &mut memo)
}

fn m(g: &[char], s: &[char], pi: usize, si: usize, memo: &mut Vec<Option<bool>>) -> bool {
    let key = pi * (s.len() + 1) + si;
    if let Some(r) = memo[key] {
        return r;
    }
    let r = step(g, s, pi, si, memo);
    memo[key] = Some(r);
    r
}

fn step(
    g: &[char],
    s: &[char],
    mut pi: usize,
    mut si: usize,
    memo: &mut Vec<Option<bool>>,
) -> bool {
    // Literal characters, `?`, classes and escapes match one character each: iterate, so
    // only `*` recurses.
    loop {
        if pi == g.len() {
            return si == s.len();
        }
        let one = match g[pi] {
            '*' => break,
            '?' => si < s.len() && s[si] != '/',
            '[' => {
                let Some(end) = g[pi + 1..].iter().position(|&c| c == ']') else {
                    return false;
                };
                let ok = si < s.len() && s[si] != '/' && in_class(&g[pi + 1..pi + 1 + end], s[si]);
                if !ok {
                    return false;
                }
                pi += end + 2;
                si += 1;
                continue;
            }
            '\\' if pi + 1 < g.len() => {
                if !(si < s.len() && s[si] == g[pi + 1]) {
                    return false;
                }
                pi += 2;
                si += 1;
                continue;
            }
            c => si < s.len() && s[si] == c,
        };
        if !one {
            return false;
        }
        pi += 1;
        si += 1;
    }
    if g.get(pi + 1) == Some(&'*') {
        if g.get(pi + 2) == Some(&'/') {
            // `**/`: zero or more whole elements.
            (si..=s.len())
                .filter(|&i| i == si || s[i - 1] == '/')
                .any(|i| m(g, s, pi + 3, i, memo))
        } else {
            (si..=s.len()).any(|i| m(g, s, pi + 2, i, memo))
        }
    } else {
        let mut i = si;
        loop {
            if m(g, s, pi + 1, i, memo) {
                return true;
            }
            if i == s.len() || s[i] == '/' {
                return false;
            }
            i += 1;
        }
    }
}

fn in_class(class: &[char], c: char) -> bool {
    let (neg, class) = match class.first() {
        Some('^') | Some('!') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            if class[i] <= c && c <= class[i + 2] {
                hit = true;
            }
            i += 3;
        } else {
            if class[i] == c {
                hit = true;
            }
            i += 1;
        }
    }
    hit != neg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let m = Matcher::new(
            "# comment\n*.tmp\n!keep.tmp\n/build\nsrc/**/gen\n**/*.log\n[a-c]?.txt\n.git\n",
        )
        .unwrap();
        for (p, want) in [
            ("x.tmp", true),
            ("keep.tmp", false),
            ("sub/x.tmp", false),
            ("build", true),
            ("build/out/a", true),
            ("src/gen", true),
            ("src/a/b/gen/x.rs", true),
            ("src/main.rs", false),
            ("a.log", true),
            ("deep/er/a.log", true),
            ("ab.txt", true),
            ("db.txt", false),
            (".git/HEAD", true),
            ("Dockerfile", false),
        ] {
            assert_eq!(m.excluded(p), want, "{p}");
        }
        assert!(m.has_exceptions());
    }

    #[test]
    fn exceptions_win_when_last() {
        let m = Matcher::new("*\n!app.py\n!src\n").unwrap();
        assert!(m.excluded("secret"));
        assert!(!m.excluded("app.py"));
        assert!(!m.excluded("src/x"));
        let m = Matcher::new("!a\n*\n").unwrap();
        assert!(m.excluded("a"));
        assert!(Matcher::new("[ab\n").is_err());
        assert!(!Matcher::new("").unwrap().excluded("x"));
    }

    #[test]
    fn long_patterns_are_refused_and_long_literals_do_not_recurse() {
        assert!(Matcher::new(&"a".repeat(5000)).is_err());
        let m = Matcher::new(&"ab?[a-c]\\x".repeat(400)).unwrap();
        assert!(m.excluded(&"abzbx".repeat(400)));
    }

    #[test]
    fn stars_do_not_hang() {
        let g: Vec<char> = "*a*a*a*a*a*a*a*a*a*a*b".chars().collect();
        let s: Vec<char> = "a".repeat(200).chars().collect();
        assert!(!glob(&g, &s));
    }
}
