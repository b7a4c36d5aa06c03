//! The template functions: Go's (and or not len index print printf println eq ne lt le gt
//! ge) and the ones Docker's CLI adds (json split join title lower upper pad truncate).

use anyhow::{anyhow, bail, Result};
use serde_json::Value;
use std::fmt::Write as _;

use super::{kind, plain, show, truth, METHOD};

fn text(v: &Value) -> String {
    show(v)
}

fn num(v: &Value, f: &str) -> Result<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| anyhow!("{f}: bad number")),
        Value::String(s) => s.parse().map_err(|_| anyhow!("{f}: {s:?} is not a number")),
        x => bail!("{f}: {} is not a number", kind(x)),
    }
}

fn want(args: &[Value], n: usize, f: &str) -> Result<()> {
    if args.len() != n {
        bail!("wrong number of args for {f}: want {n} got {}", args.len());
    }
    Ok(())
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

pub(super) fn call(name: &str, a: &[Value]) -> Result<Value> {
    use std::cmp::Ordering::*;
    Ok(match name {
        "and" => a
            .iter()
            .find(|v| !truth(v))
            .or(a.last())
            .cloned()
            .unwrap_or_default(),
        "or" => a
            .iter()
            .find(|v| truth(v))
            .or(a.last())
            .cloned()
            .unwrap_or_default(),
        "not" => {
            want(a, 1, name)?;
            Value::Bool(!truth(&a[0]))
        }
        "len" => {
            want(a, 1, name)?;
            match &a[0] {
                Value::String(x) => x.len().into(),
                Value::Array(x) => x.len().into(),
                Value::Object(x) => x.keys().filter(|k| !k.starts_with(METHOD)).count().into(),
                x => bail!("len of {}", kind(x)),
            }
        }
        "index" => {
            let (first, keys) = a.split_first().ok_or_else(|| anyhow!("index of nothing"))?;
            let mut cur = first.clone();
            for k in keys {
                cur = match (&cur, k) {
                    // Go's index gives the map's zero value for a missing key: Docker's
                    // maps (Labels, Options) hold strings, so "".
                    (Value::Object(m), Value::String(k)) => {
                        m.get(k).cloned().unwrap_or_else(|| "".into())
                    }
                    (Value::Array(v), Value::Number(i)) => {
                        match i.as_u64().and_then(|i| v.get(i as usize)) {
                            Some(x) => x.clone(),
                            None => bail!("error calling index: index out of range: {i}"),
                        }
                    }
                    (Value::Null, _) => bail!("error calling index: index of untyped nil"),
                    (c, k) => bail!(
                        "error calling index: can't index item of type {} with {}",
                        kind(c),
                        show(k)
                    ),
                };
            }
            cur
        }
        "print" => {
            // Go's fmt.Sprint: spaces between operands when neither is a string
            let mut o = String::new();
            for (i, v) in a.iter().enumerate() {
                if i > 0 && !matches!(v, Value::String(_)) && !matches!(a[i - 1], Value::String(_))
                {
                    o.push(' ');
                }
                o.push_str(&text(v));
            }
            o.into()
        }
        "println" => {
            let parts: Vec<String> = a.iter().map(text).collect();
            format!("{}\n", parts.join(" ")).into()
        }
        "printf" => {
            let (f, rest) = a
                .split_first()
                .ok_or_else(|| anyhow!("printf: no format"))?;
            printf(&text(f), rest).into()
        }
        "eq" => {
            let (x, ys) = a
                .split_first()
                .ok_or_else(|| anyhow!("eq: missing argument"))?;
            Value::Bool(
                ys.iter()
                    .any(|y| compare(x, y) == Some(Equal) || plain(x) == plain(y)),
            )
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(a, 2, name)?;
            let o = compare(&a[0], &a[1])
                .ok_or_else(|| anyhow!("{name}: incompatible types for comparison"))?;
            Value::Bool(match name {
                "ne" => o != Equal,
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            })
        }
        "json" => {
            want(a, 1, name)?;
            // Docker's json: no HTML escaping, no trailing newline
            serde_json::to_string(&plain(&a[0]))?.into()
        }
        "split" => {
            want(a, 2, name)?;
            let (x, sep) = (text(&a[0]), text(&a[1]));
            if sep.is_empty() {
                x.chars()
                    .map(|c| Value::String(c.to_string()))
                    .collect::<Vec<_>>()
                    .into()
            } else {
                x.split(sep.as_str())
                    .map(|p| Value::String(p.into()))
                    .collect::<Vec<_>>()
                    .into()
            }
        }
        "join" => {
            want(a, 2, name)?;
            let parts: Vec<String> = match &a[0] {
                Value::Array(v) => v.iter().map(text).collect(),
                x => bail!("join: want a list, got {}", kind(x)),
            };
            parts.join(&text(&a[1])).into()
        }
        "title" => {
            want(a, 1, name)?;
            let mut o = String::new();
            let mut prev_letter = false;
            for c in text(&a[0]).chars() {
                if !prev_letter {
                    o.extend(c.to_uppercase());
                } else {
                    o.push(c);
                }
                prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
            }
            o.into()
        }
        "lower" => {
            want(a, 1, name)?;
            text(&a[0]).to_lowercase().into()
        }
        "upper" => {
            want(a, 1, name)?;
            text(&a[0]).to_uppercase().into()
        }
        "pad" => {
            want(a, 3, name)?;
            let (l, r) = (num(&a[1], name)? as usize, num(&a[2], name)? as usize);
            format!(
                "{}{}{}",
                " ".repeat(l.min(1 << 16)),
                text(&a[0]),
                " ".repeat(r.min(1 << 16))
            )
            .into()
        }
        "truncate" => {
            want(a, 2, name)?;
            let n = num(&a[1], name)?.max(0.0) as usize;
            text(&a[0]).chars().take(n).collect::<String>().into()
        }
        _ => bail!("function {name:?} not defined"),
    })
}

/// Go's Sprintf for the verbs templates use: %s %v %d %q %f %%, widths and `-`.
fn printf(f: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '-' || d == '.' || d == '+' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = it.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let body = match verb {
            'q' => serde_json::to_string(&text(v)).unwrap_or_default(),
            'f' => {
                let prec = spec
                    .split_once('.')
                    .and_then(|(_, p)| p.parse().ok())
                    .unwrap_or(6);
                format!("{:.*}", prec, num(v, "printf").unwrap_or(0.0))
            }
            _ => text(v),
        };
        let left = spec.starts_with('-');
        let width: usize = spec
            .trim_start_matches(['-', '+'])
            .split('.')
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0)
            .min(1 << 16);
        let pad = width.saturating_sub(body.chars().count());
        if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&body);
        }
    }
    out
}
