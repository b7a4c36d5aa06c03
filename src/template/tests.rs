//! Unit tests of the Go-template subset: expected strings are what Go's text/template and
//! Docker's template functions print.

use super::*;
use serde_json::json;

fn r(t: &str, v: &Value) -> String {
    Template::parse(t)
        .and_then(|x| x.render(v))
        .unwrap_or_else(|e| format!("ERR {e}"))
}

#[test]
fn fields_and_printing() {
    let v = json!({"State": {"Status": "exited", "ExitCode": 3, "OOMKilled": true, "Health": null},
        "Name": "/x", "Cmd": ["sh", "-c", "true"], "Labels": {"b": "2", "a": "1"}, "F": 1.5});
    assert_eq!(r("{{.State.Status}} {{.State.ExitCode}}", &v), "exited 3");
    assert_eq!(r("{{ .State.OOMKilled }}", &v), "true");
    assert_eq!(r("{{json .State.Status}}", &v), "\"exited\"");
    assert_eq!(r("{{.Cmd}}", &v), "[sh -c true]");
    assert_eq!(r("{{.Labels}}", &v), "map[a:1 b:2]");
    assert_eq!(r("{{.Nope}}", &v), "<no value>");
    assert_eq!(r("{{.State.Health}}", &v), "<nil>");
    assert_eq!(r("{{.F}}", &v), "1.5");
    assert!(r("{{.Nope.X}}", &v).starts_with("ERR"));
    assert_eq!(r("{{json .Labels}}", &v), r#"{"a":"1","b":"2"}"#);
}

#[test]
fn control() {
    let v = json!({"Mounts": [{"Source": "/a", "Destination": "/x"}, {"Source": "/b", "Destination": "/y"}],
        "Labels": {"b": "2", "a": "1", "app": "web"}, "Empty": [], "N": 0});
    assert_eq!(
        r("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", &v),
        "/a:/x /b:/y "
    );
    assert_eq!(
        r("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", &v),
        "a=1;app=web;b=2;"
    );
    assert_eq!(
        r("{{range $i, $m := .Mounts}}{{$i}}{{$m.Source}}{{end}}", &v),
        "0/a1/b"
    );
    assert_eq!(r("{{range .Empty}}x{{else}}none{{end}}", &v), "none");
    assert_eq!(r(r#"{{index .Labels "app"}}"#, &v), "web");
    assert_eq!(
        r(r#"{{index .Labels "nope"}}|{{.Labels.nope}}"#, &v),
        "|<no value>"
    );
    assert_eq!(
        r(
            r#"{{if eq (index .Labels "app") "web"}}yes{{else}}no{{end}}"#,
            &v
        ),
        "yes"
    );
    assert_eq!(r("{{if .N}}a{{else if .Empty}}b{{else}}c{{end}}", &v), "c");
    assert_eq!(r("{{with .Labels}}{{.a}}{{end}}", &v), "1");
    assert_eq!(r("{{$x := .Labels.a}}{{$x}}{{$x = .N}}{{$x}}", &v), "10");
    assert_eq!(r("{{range .Mounts}}{{$.N}}{{end}}", &v), "00");
    assert_eq!(r("a  {{- .N -}}  b", &v), "a0b");
    assert_eq!(r("{{/* hi */}}x", &v), "x");
    assert_eq!(r("{{(index .Mounts 1).Source}}", &v), "/b");
    assert_eq!(r("{{len .Mounts}}", &v), "2");
}

#[test]
fn docker_functions() {
    let v = json!({"Names": "web-1", "Cmd": "a b c", "L": ["x", "y"]});
    assert_eq!(r("{{upper .Names}}", &v), "WEB-1");
    assert_eq!(r("{{.Names | upper}}", &v), "WEB-1");
    assert_eq!(r("{{lower \"AbC\"}}", &v), "abc");
    assert_eq!(r("{{title \"hello world\"}}", &v), "Hello World");
    assert_eq!(r("{{join .L \", \"}}", &v), "x, y");
    assert_eq!(r("{{split .Cmd \" \"}}", &v), "[a b c]");
    assert_eq!(r("{{index (split .Cmd \" \") 1}}", &v), "b");
    assert_eq!(r("{{truncate .Names 3}}", &v), "web");
    assert_eq!(r("{{pad .Names 1 2}}|", &v), " web-1  |");
    assert_eq!(r("{{println .Names}}", &v), "web-1\n");
    assert_eq!(r("{{printf \"%-6s|%3d\" .Names 7}}", &v), "web-1 |  7");
    assert_eq!(
        r("{{json .}}", &v),
        r#"{"Cmd":"a b c","L":["x","y"],"Names":"web-1"}"#
    );
}

#[test]
fn methods() {
    let v = json!({"Labels": "app=web", "\u{1}Label": {"app": "web"}});
    assert_eq!(r(r#"{{.Label "app"}}|{{.Label "no"}}"#, &v), "web|");
    assert_eq!(r("{{json .}}", &v), r#"{"Labels":"app=web"}"#);
    let header = json!({"Label": "LABEL"});
    assert_eq!(r(r#"{{.Label "app"}}"#, &header), "LABEL");
}

#[test]
fn errors_name_the_position() {
    let v = json!({});
    assert_eq!(r("ab{{.X", &v), "ERR template: :1:3: unclosed action");
    assert!(r("{{nosuch .X}}", &v).contains("function \"nosuch\" not defined"));
    assert!(r("x\n {{if .X}}", &v).starts_with("ERR template: :"));
    assert!(r("{{end}}", &v).starts_with("ERR"));
}
