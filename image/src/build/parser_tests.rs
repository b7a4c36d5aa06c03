//! Unit tests of the Dockerfile parser.

use super::*;

fn p(s: &str) -> Dockerfile {
    parse(s, "Dockerfile").unwrap()
}

fn cmds(s: &str) -> Vec<Cmd> {
    p(s).instructions.into_iter().map(|i| i.cmd).collect()
}

#[test]
fn the_seed_services_dockerfile() {
    let d = p("FROM python:3.7\nRUN pip install flask\nCOPY app.py /app.py\nEXPOSE 5000\nCMD [\"python\", \"/app.py\"]\n");
    assert_eq!(d.instructions.len(), 5);
    assert_eq!(
        d.instructions[0].cmd,
        Cmd::From {
            image: "python:3.7".into(),
            name: None,
            platform: None
        }
    );
    assert_eq!(
        d.instructions[1].cmd,
        Cmd::Run {
            cmd: CmdLine::Shell("pip install flask".into()),
            heredocs: vec![],
            network: None
        }
    );
    let Cmd::Copy(c) = &d.instructions[2].cmd else {
        panic!()
    };
    assert_eq!(
        (c.srcs.clone(), c.dest.as_str()),
        (vec!["app.py".into()], "/app.py")
    );
    assert_eq!(d.instructions[3].cmd, Cmd::Expose(vec!["5000".into()]));
    assert_eq!(
        d.instructions[4].cmd,
        Cmd::Cmd(CmdLine::Exec(vec!["python".into(), "/app.py".into()]))
    );
    assert_eq!(d.instructions[4].line, 5);
}

#[test]
fn comments_continuations_case_and_lines() {
    let d = p(
        "# a comment\n\nfrom bb AS Build\nrun echo a \\\n  # inside\n\n  && echo b\nCmd echo hi\n",
    );
    assert_eq!(d.instructions[0].line, 3);
    assert_eq!(
        d.instructions[0].cmd,
        Cmd::From {
            image: "bb".into(),
            name: Some("build".into()),
            platform: None
        }
    );
    assert_eq!(d.instructions[1].line, 4);
    assert_eq!(
        d.instructions[1].cmd,
        Cmd::Run {
            cmd: CmdLine::Shell("echo a   && echo b".into()),
            heredocs: vec![],
            network: None
        }
    );
    assert_eq!(d.instructions[2].line, 8);
}

#[test]
fn directives() {
    let d = p("# syntax=docker/dockerfile:1\n# escape=`\nFROM bb\nRUN echo a `\n b\n");
    assert_eq!(d.escape, '`');
    assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert!(
        matches!(&d.instructions[1].cmd, Cmd::Run { cmd: CmdLine::Shell(s), .. } if s == "echo a  b")
    );
    // Not at the top: a comment.
    let d = p("FROM bb\n# escape=`\n");
    assert_eq!(d.escape, '\\');
    let e = parse("# escape=x\nFROM bb\n", "Dockerfile").unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.msg.contains("escape"), "{e}");
}

#[test]
fn heredocs() {
    let d = p("FROM bb\nRUN <<EOF\necho one\necho two\nEOF\nCOPY <<-\"X\" /a.txt\n\tkeep $A\n\tX\nRUN cat <<A <<B\n1\nA\n2\nB\nCMD x\n");
    let Cmd::Run { heredocs, cmd, .. } = &d.instructions[1].cmd else {
        panic!()
    };
    assert_eq!(cmd, &CmdLine::Shell("<<EOF".into()));
    assert_eq!(heredocs[0].body, "echo one\necho two\n");
    assert!(heredocs[0].expand);
    let Cmd::Copy(c) = &d.instructions[2].cmd else {
        panic!()
    };
    assert_eq!(c.heredocs[0].name, "X");
    assert_eq!(c.heredocs[0].body, "keep $A\n");
    assert!(!c.heredocs[0].expand);
    let Cmd::Run { heredocs, .. } = &d.instructions[3].cmd else {
        panic!()
    };
    assert_eq!(heredocs.len(), 2);
    assert_eq!(heredocs[1].body, "2\n");
    assert_eq!(d.instructions[4].line, 14);
    let e = parse("FROM bb\nRUN <<EOF\nnope\n", "Dockerfile").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.msg.contains("not terminated"), "{e}");
    // Quoted: not a here-document.
    assert!(
        matches!(&cmds("FROM bb\nRUN echo '<<EOF'\n")[1], Cmd::Run { heredocs, .. } if heredocs.is_empty())
    );
}

#[test]
fn flags_and_forms() {
    let c = cmds("FROM --platform=linux/amd64 bb AS b\nCOPY --from=b --chown=1:2 --chmod=0755 --link [\"a b\", \"/c/\"]\nADD --checksum=sha256:00 http://x/y /y\nHEALTHCHECK --interval=5s --retries=3 CMD curl -f x\nHEALTHCHECK NONE\nSHELL [\"/bin/bash\", \"-c\"]\nENTRYPOINT [\"a\"]\nVOLUME [\"/data\"]\nVOLUME /a /b\n");
    assert!(matches!(&c[0], Cmd::From { platform: Some(p), .. } if p == "linux/amd64"));
    let Cmd::Copy(cp) = &c[1] else { panic!() };
    assert_eq!(cp.from.as_deref(), Some("b"));
    assert_eq!(cp.chown.as_deref(), Some("1:2"));
    assert_eq!(cp.chmod.as_deref(), Some("0755"));
    assert!(cp.link);
    assert_eq!(cp.srcs, vec!["a b".to_string()]);
    assert_eq!(cp.dest, "/c/");
    let Cmd::Add(a) = &c[2] else { panic!() };
    assert_eq!(a.checksum.as_deref(), Some("sha256:00"));
    let Cmd::Healthcheck(h) = &c[3] else { panic!() };
    assert_eq!(h.test, vec!["CMD-SHELL", "curl -f x"]);
    assert_eq!(h.retries, Some(3));
    assert_eq!(h.interval.as_deref(), Some("5s"));
    assert!(matches!(&c[4], Cmd::Healthcheck(h) if h.test == ["NONE"]));
    assert_eq!(c[5], Cmd::Shell(vec!["/bin/bash".into(), "-c".into()]));
    assert_eq!(c[7], Cmd::Volume(vec!["/data".into()]));
    assert_eq!(c[8], Cmd::Volume(vec!["/a".into(), "/b".into()]));
}

#[test]
fn env_arg_label_words() {
    let c = cmds("ARG V=1\nFROM bb\nENV A=1 B=\"two words\" C=x\\ y\nENV legacy value with spaces\nLABEL a=b\nARG X Y=2\n");
    assert_eq!(c[0], Cmd::Arg(vec!["V=1".into()]));
    assert_eq!(
        c[2],
        Cmd::Env(vec![
            "A=1".into(),
            "B=\"two words\"".into(),
            "C=x\\ y".into()
        ])
    );
    assert_eq!(c[3], Cmd::Env(vec!["legacy=value with spaces".into()]));
    assert_eq!(c[5], Cmd::Arg(vec!["X".into(), "Y=2".into()]));
}

#[test]
fn errors_name_the_line_and_what_was_wanted() {
    for (src, line, want) in [
        ("FROM bb\nRUN\n", 2, "needs a command"),
        ("FROM bb\nFOO bar\n", 2, "unknown instruction FOO"),
        ("FROM bb\nCOPY onlyone\n", 2, "source and a destination"),
        ("FROM bb\nCOPY --bogus=1 a b\n", 2, "unknown flag --bogus"),
        ("FROM bb\nSHELL /bin/sh\n", 2, "JSON array"),
        ("FROM bb\n\nENV\n", 3, "key=value"),
        ("RUN x\nFROM bb\n", 1, "before the first FROM"),
        ("# nothing\n", 1, "no FROM"),
        ("FROM a b\n", 1, "FROM IMAGE [AS NAME]"),
        ("FROM bb\nONBUILD FROM x\n", 2, "not allowed"),
        ("FROM bb\nCOPY --chmod=999 a b\n", 2, "octal"),
        (
            "FROM bb\nHEALTHCHECK --retries=x CMD a\n",
            2,
            "whole number",
        ),
    ] {
        let e = parse(src, "Dockerfile").unwrap_err();
        assert_eq!(e.line, line, "{src:?}: {e}");
        assert!(e.msg.contains(want), "{src:?}: {e}");
        assert!(
            e.to_string().starts_with(&format!("Dockerfile:{line}: ")),
            "{e}"
        );
    }
}

#[test]
fn onbuild_keeps_its_text() {
    let c = cmds("FROM bb\nONBUILD RUN echo hi\n");
    assert_eq!(c[1], Cmd::Onbuild("RUN echo hi".into()));
}
