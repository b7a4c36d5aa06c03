//! Variable interpolation in compose files, as the compose spec's "Interpolation" section
//! says: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`,
//! `${VAR:+replacement}`, `${VAR+replacement}`, and `$$` for a literal `$`. Defaults and
//! replacements are interpolated themselves (`${A:-${B}}`). Applied to every string scalar of
//! a parsed file before merging; an error names the key path of the value.

use serde_json::Value;

/// Where variable values come from (the environment over `.env`).
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl Lookup for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::BTreeMap::get(self, name).cloned()
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Interpolates one string; the error says what is wrong (the caller adds where).
pub fn interpolate(s: &str, env: &dyn Lookup) -> Result<String, String> {
    let chars: Vec<char> = s.chars().collect();
    let (out, end) = expand(&chars, 0, env, false)?;
    debug_assert_eq!(end, chars.len());
    Ok(out)
}

/// Expands from `i` to the end, or (nested) to the `}` that closes a braced expression;
/// returns the text and the index of that `}` (or the end).
fn expand(
    c: &[char],
    mut i: usize,
    env: &dyn Lookup,
    nested: bool,
) -> Result<(String, usize), String> {
    let mut out = String::new();
    while i < c.len() {
        match c[i] {
            '}' if nested => return Ok((out, i)),
            '$' => {
                let next = c.get(i + 1).copied();
                match next {
                    Some('$') => {
                        out.push('$');
                        i += 2;
                    }
                    Some('{') => {
                        let (v, end) = braced(c, i + 2, env)?;
                        out.push_str(&v);
                        i = end + 1;
                    }
                    Some(ch) if is_name_start(ch) => {
                        let start = i + 1;
                        let mut j = start;
                        while j < c.len() && is_name_char(c[j]) {
                            j += 1;
                        }
                        let name: String = c[start..j].iter().collect();
                        out.push_str(&env.get(&name).unwrap_or_default());
                        i = j;
                    }
                    _ => {
                        let rest: String = c[i..].iter().take(12).collect();
                        return Err(format!(
                            "invalid interpolation format {rest:?}: a $ starts $NAME or ${{NAME}}; write $$ for a literal $"
                        ));
                    }
                }
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    if nested {
        return Err("unclosed ${ in interpolation".into());
    }
    Ok((out, i))
}

/// `NAME[op word]}` from `i`; returns the value and the index of the closing `}`.
fn braced(c: &[char], i: usize, env: &dyn Lookup) -> Result<(String, usize), String> {
    let mut j = i;
    while j < c.len() && is_name_char(c[j]) {
        j += 1;
    }
    let name: String = c[i..j].iter().collect();
    if name.is_empty() || !name.starts_with(is_name_start) {
        let shown: String = c[i.saturating_sub(2)..].iter().take(16).collect();
        return Err(format!(
            "invalid interpolation format {shown:?}: want ${{NAME}}"
        ));
    }
    let value = env.get(&name);
    let Some(&op0) = c.get(j) else {
        return Err(format!("unclosed ${{{name} in interpolation"));
    };
    if op0 == '}' {
        return Ok((value.unwrap_or_default(), j));
    }
    let (op, word_start) = match (op0, c.get(j + 1)) {
        (':', Some(&o)) if "-?+".contains(o) => (format!(":{o}"), j + 2),
        ('-' | '?' | '+', _) => (op0.to_string(), j + 1),
        _ => {
            return Err(format!(
                "invalid interpolation format for ${{{name}...}}: unknown operator {op0:?} (:- - :? ? :+ +)"
            ))
        }
    };
    let (word, end) = expand(c, word_start, env, true)?;
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let v = match op.as_str() {
        ":-" => {
            if non_empty {
                value.unwrap_or_default()
            } else {
                word
            }
        }
        "-" => {
            if set {
                value.unwrap_or_default()
            } else {
                word
            }
        }
        ":+" => {
            if non_empty {
                word
            } else {
                String::new()
            }
        }
        "+" => {
            if set {
                word
            } else {
                String::new()
            }
        }
        ":?" | "?" => {
            let ok = if op == ":?" { non_empty } else { set };
            if !ok {
                let why = if word.is_empty() {
                    "is not set".to_string()
                } else {
                    word
                };
                return Err(format!(
                    "required variable {name} is missing a value: {why}"
                ));
            }
            value.unwrap_or_default()
        }
        _ => unreachable!("operators are matched above"),
    };
    Ok((v, end))
}

/// Interpolates every string (and mapping key's value) under `v`; `path` is the key path so
/// far (`services.web.environment`). Keys are not interpolated, as in docker compose.
pub fn interpolate_tree(v: &mut Value, env: &dyn Lookup, path: &str) -> Result<(), String> {
    match v {
        Value::String(s) if s.contains('$') => {
            *s = interpolate(s, env).map_err(|e| format!("{path}: {e}"))?;
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                interpolate_tree(x, env, &format!("{path}[{i}]"))?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                interpolate_tree(x, env, &p)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env() -> BTreeMap<String, String> {
        [("A", "a"), ("EMPTY", ""), ("N", "5000")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn forms() {
        let e = env();
        let i = |s: &str| interpolate(s, &e);
        assert_eq!(i("x$A-y").unwrap(), "xa-y");
        assert_eq!(i("${A}b").unwrap(), "ab");
        assert_eq!(i("$$A $${A}").unwrap(), "$A ${A}");
        assert_eq!(i("${UNSET}|$UNSET").unwrap(), "|");
        assert_eq!(i("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(i("${EMPTY-d}").unwrap(), "");
        assert_eq!(i("${UNSET-d}").unwrap(), "d");
        assert_eq!(i("${A:-d}").unwrap(), "a");
        assert_eq!(
            i("${A:+r}|${EMPTY:+r}|${EMPTY+r}|${UNSET+r}").unwrap(),
            "r||r|"
        );
        assert_eq!(i("${UNSET:-${A}x}").unwrap(), "ax");
        assert_eq!(i("${UNSET:-a:b}}").unwrap(), "a:b}");
        assert_eq!(i("${N}:${N}").unwrap(), "5000:5000");
        assert_eq!(i("${EMPTY?msg}").unwrap(), "");
        let e1 = i("${EMPTY:?needs a value}").unwrap_err();
        assert!(e1.contains("EMPTY") && e1.contains("needs a value"), "{e1}");
        assert!(i("${UNSET?}").unwrap_err().contains("UNSET"));
        for bad in ["${", "${A", "${}", "${1A}", "$ x", "${A!b}", "${A:-x"] {
            assert!(i(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tree_errors_name_the_path() {
        let mut v: Value = serde_json::json!({"services": {"web": {"environment": ["X=${A:?oops}", "Y=${NOPE:?must be set}"]}}});
        let e = interpolate_tree(&mut v, &env(), "").unwrap_err();
        assert!(e.starts_with("services.web.environment[1]:"), "{e}");
        assert!(e.contains("must be set"), "{e}");
    }
}
