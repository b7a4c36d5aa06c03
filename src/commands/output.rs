//! How the verbs print what scripts read: `inspect`'s JSON array, the `-f`/`--format`
//! template, and archives (`save`, `export`). The commands' ground floor: it imports no
//! other command.

use std::collections::HashSet;

use anyhow::{Context, Result};

use crate::template::Template;
use serde_json::Value;

/// Prints inspect's values as Docker's inspector does: an indented JSON array; `json`, the
/// array on one line; else each through the template. A template that does not parse ends
/// with status 64 before anything is printed (Docker's `cli.StatusError{64}`); one that fails
/// on a value is reported after the others are printed, status 1.
pub fn print_inspect(out: &[Value], format: Option<&str>) -> Result<()> {
    match format {
        None | Some("") => println!("{}", serde_json::to_string_pretty(out)?),
        Some("json") => println!("{}", serde_json::to_string(out)?),
        Some(t) => {
            let tmpl = parse(t).map_err(|e| crate::exit::ExitError {
                code: 64,
                msg: crate::text::error_chain(&e),
            })?;
            let mut failed = Vec::new();
            for v in out {
                match tmpl.render(v) {
                    Ok(s) => println!("{}", for_terminal(&s)),
                    Err(e) => failed.push(format!("template {t:?}: executing: {e}")),
                }
            }
            if !failed.is_empty() {
                anyhow::bail!("{}", failed.join("\n"));
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
        Some(t) => println!("{}", for_terminal(&render(t, v)?)),
    }
    Ok(())
}

/// A Go template (src/template.rs) applied to `v`; a bad template's error names it.
pub fn render(t: &str, v: &Value) -> Result<String> {
    parse(t)?
        .render(v)
        .with_context(|| format!("template {t:?}: executing"))
}

fn parse(t: &str) -> Result<Template> {
    Template::parse(t).with_context(|| format!("template parsing error in {t:?}"))
}

/// Template output carries image and user text (names, labels, commands) to the terminal:
/// control characters are escaped, except the tabs and newlines a template writes.
fn for_terminal(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\t' && c != '\n') {
        return s.to_string();
    }
    s.split('\n')
        .map(|l| {
            l.split('\t')
                .map(|s| berth_image::text::escape_for_terminal(s).into_owned())
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The row fields a list's `format` (as `print_list` takes it) can read, so a verb need not
/// work out the others: None when it may read any (`json`, `{{.}}`, `index .`, a `.` in
/// plain text: any `.` not followed by a field's name).
pub fn fields_read(format: Option<&str>, default_table: &str) -> Option<HashSet<String>> {
    let f = match format.map(str::trim) {
        None | Some("" | "table") => default_table,
        Some("json") => return None,
        Some(f) => f,
    };
    let mut names = HashSet::new();
    for (i, _) in f.match_indices('.') {
        let name: String = f[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            return None;
        }
        names.insert(name);
    }
    Some(names)
}

/// A list verb's rows (`ps`, `images`, `volume ls`, ...) as Docker's formatter prints them.
/// `format`: none or `table` = `default_table`; `json` = `{{json .}}` a row; `table TEMPLATE`
/// = a header row (the template applied to `header`, which maps each field to its column
/// title) then the rows, aligned in columns as Go's tabwriter (min width 10, padding 3);
/// anything else is a template applied to each row. `\t` and `\n` typed in the format are
/// a tab and a newline, as Docker reads them.
pub fn print_list(
    rows: &[Value],
    header: &Value,
    default_table: &str,
    format: Option<&str>,
) -> Result<()> {
    let f = format.unwrap_or("table").trim();
    let (table, body) = match f {
        "" | "table" => (true, default_table.trim_start_matches("table").trim()),
        "json" => (false, "{{json .}}"),
        _ => match f.strip_prefix("table") {
            Some(rest) if rest.starts_with([' ', '\t', '\n']) => (true, rest.trim()),
            _ => (false, f),
        },
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let t = parse(&body)?;
    let mut lines = Vec::new();
    if table {
        lines.push(t.render(header).context("template: the header row")?);
    }
    for r in rows {
        let s = t
            .render(r)
            .with_context(|| format!("template {body:?}: executing"))?;
        lines.push(for_terminal(&s));
    }
    let mut out = String::new();
    if table {
        out = tabwrite(&lines.join("\n"));
    } else {
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    use std::io::Write;
    let mut so = std::io::stdout().lock();
    so.write_all(out.as_bytes())?;
    Ok(())
}

/// Go's text/tabwriter as Docker's tables use it (minwidth 10, tabwidth 1, padding 3, blank
/// padding): a cell ends at a tab; each column is as wide as its widest cell plus 3, at
/// least 10; a line's last cell (no tab after it) is not aligned. Runs of lines with the
/// same column make one block, as tabwriter's.
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, 10)
}

/// `tabwrite` with another minimum column width (`top` uses 20).
pub fn tabwrite_min(text: &str, min: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|l| vec![0; l.len()]).collect();
    // column j of line i is aligned over the block of neighbouring lines that have a
    // terminated cell j
    let cols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    for j in 0..cols {
        let mut i = 0;
        while i < lines.len() {
            if lines[i].len() <= j + 1 {
                i += 1;
                continue;
            }
            let start = i;
            let mut w = 0;
            while i < lines.len() && lines[i].len() > j + 1 {
                w = w.max(lines[i][j].chars().count());
                i += 1;
            }
            let w = (w + 3).max(min);
            for row in widths.iter_mut().take(i).skip(start) {
                row[j] = w;
            }
        }
    }
    let mut out = String::with_capacity(text.len() + widths.iter().flatten().sum::<usize>());
    for (l, w) in lines.iter().zip(widths) {
        for (j, cell) in l.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < l.len() {
                let pad = w[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// A row's string fields; the `.Label "k"` method's table (see src/template.rs) from
/// `labels`.
pub fn row<'a>(
    fields: impl IntoIterator<Item = (&'a str, Value)>,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in fields {
        m.insert(k.to_string(), v);
    }
    if let Some(l) = labels {
        m.insert(
            format!("{}Label", crate::template::METHOD),
            serde_json::to_value(l).unwrap_or_default(),
        );
    }
    Value::Object(m)
}

/// Writes an archive (`save`, `export`) to `output`, or to stdout when None. A file is
/// written next to its target and renamed, so an interrupted write leaves no half file;
/// a terminal on stdout is refused, as Docker does.
pub fn write_archive(
    output: Option<&std::path::Path>,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<()>,
) -> Result<()> {
    use std::io::Write;
    match output {
        Some(p) => {
            let tmp = p.with_file_name(format!(
                ".{}.berth-tmp",
                p.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            ));
            let f =
                std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            let res = write(&mut w).and_then(|()| Ok(w.flush()?));
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, p).with_context(|| format!("rename to {}", p.display()))
        }
        None => {
            if nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
                anyhow::bail!(
                    "refusing to write an archive to a terminal: use -o FILE or redirect stdout"
                );
            }
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            write(&mut w)?;
            w.flush()?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_format_names_the_fields_it_reads_or_may_read_any() {
        let set = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<HashSet<_>>());
        let table = "table {{.ID}}\t{{.Names}}";
        assert_eq!(fields_read(None, table), set(&["ID", "Names"]));
        assert_eq!(fields_read(Some("table"), table), set(&["ID", "Names"]));
        assert_eq!(
            fields_read(Some("{{.Names}} {{.Label \"k\"}} {{lower .Status}}"), table),
            set(&["Names", "Label", "Status"])
        );
        for any in [
            "json",
            "{{json .}}",
            "{{.}}",
            "{{index . \"Names\"}}",
            "{{.Names}}.",
        ] {
            assert_eq!(fields_read(Some(any), table), None, "{any}");
        }
    }

    #[test]
    fn templates() {
        let v = serde_json::json!({"State": {"Status": "exited", "ExitCode": 3, "OOMKilled": true}, "Name": "/x"});
        assert_eq!(
            render("{{.State.Status}} {{.State.ExitCode}}", &v).unwrap(),
            "exited 3"
        );
        assert_eq!(render("{{ .State.OOMKilled }}", &v).unwrap(), "true");
        assert_eq!(render("{{json .State.Status}}", &v).unwrap(), "\"exited\"");
        assert_eq!(render("{{.Nope}}", &v).unwrap(), "<no value>");
    }

    #[test]
    fn tabwriter_as_docker() {
        // `docker ps --format "table {{.ID}}\t{{.Names}}"` pads each column to its widest
        // cell + 3 (at least 10); the last column is not padded.
        assert_eq!(
            tabwrite("CONTAINER ID\tNAMES\nabc\tweb"),
            "CONTAINER ID   NAMES\nabc            web\n"
        );
        assert_eq!(tabwrite("A\tB\nx\ty"), "A         B\nx         y\n");
    }
}
