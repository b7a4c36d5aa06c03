//! How the verbs print what scripts read: `inspect`'s JSON array and the `-f`/`--format`
//! template. The commands' ground floor: it imports no other command.

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Prints inspect's values: a JSON array, or each through the template. Template output
/// carries image text (Cmd, labels) straight to the terminal, so control characters are
/// escaped there.
pub fn print_inspect(out: &[Value], format: Option<&str>) -> Result<()> {
    match format {
        None => println!("{}", serde_json::to_string_pretty(out)?),
        Some(t) => {
            for v in out {
                println!("{}", crate::text::escape_controls(&render(t, v)?));
            }
        }
    }
    Ok(())
}

/// Docker's prune question: the warning, then "Are you sure you want to continue? [y/N] " on
/// stdout, and a line from stdin; only y or yes (any case) goes on. A closed stdin is a no.
pub fn confirm(warning: &str) -> Result<bool> {
    use std::io::Write;
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        println!();
    }
    Ok(yes)
}

/// `--format` of `version`, `info`, `system df`: `json` prints the object on one line, any
/// other value is a template; without one, `table` prints it for people.
pub fn print_object(v: &Value, format: Option<&str>, table: impl FnOnce(&Value)) -> Result<()> {
    match format {
        None | Some("") | Some("table") => table(v),
        Some("json") => println!("{}", serde_json::to_string(v)?),
        Some(t) => println!("{}", crate::text::escape_controls(&render(t, v)?)),
    }
    Ok(())
}

/// The part of Go's text/template that `docker inspect -f` users write: `{{.A.B}}` and
/// `{{json .A}}`.
pub fn render(t: &str, v: &Value) -> Result<String> {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let j = rest[i..]
            .find("}}")
            .with_context(|| format!("--format {t:?}: unclosed {{{{"))?;
        let expr = rest[i + 2..i + j].trim();
        let (json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        if !path.starts_with('.') {
            bail!("--format {t:?}: {expr:?} is not .Field or json .Field");
        }
        let mut cur = v;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            cur = cur
                .get(part)
                .with_context(|| format!("--format {t:?}: no field {part:?} in {path}"))?;
        }
        match (json, cur) {
            (false, Value::String(s)) => out.push_str(s),
            (false, Value::Null) => out.push_str("<no value>"),
            _ => out.push_str(&cur.to_string()),
        }
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let v = serde_json::json!({"State": {"Status": "exited", "ExitCode": 3, "OOMKilled": true}, "Name": "/x"});
        assert_eq!(
            render("{{.State.Status}} {{.State.ExitCode}}", &v).unwrap(),
            "exited 3"
        );
        assert_eq!(render("{{ .State.OOMKilled }}", &v).unwrap(), "true");
        assert_eq!(render("{{json .State.Status}}", &v).unwrap(), "\"exited\"");
        assert!(render("{{.Nope}}", &v).is_err());
    }
}
