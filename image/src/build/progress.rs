//! Build output. Plain, as BuildKit's `--progress plain`: `#n [stage m/k] INSTRUCTION`,
//! the RUN output as `#n 0.123 line`, `#n CACHED` or `#n DONE 0.4s`, `#n ERROR: ...`.
//! On a terminal (`tty`), a compact live view: one line per step that ends as
//! `#n [m/k] INSTRUCTION  DONE 0.4s` (or CACHED), and while a RUN runs its last few output
//! lines drawn under it, then wiped (kept if it fails).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// How many of a failed RUN's last output lines its error repeats.
pub const TAIL_LINES: usize = 10;
/// How many output lines the live view shows under a running step.
const LIVE_LINES: usize = 6;
/// Width a live line is cut to.
const LIVE_WIDTH: usize = 110;

/// The progress printer of one build (`O`: its writer), or of one of its stages running
/// beside others (`O` = `Lines`).
pub struct Progress<O: Write> {
    out: O,
    /// Vertex numbers, shared by the stages of a build.
    next: Arc<AtomicUsize>,
    tty: bool,
    /// Live output lines drawn under the current step (tty).
    drawn: usize,
}

/// A stage's progress on a thread of its own: whole lines sent to the thread that owns the
/// build's writer, so lines of parallel stages never mix.
pub struct Lines(mpsc::Sender<Vec<u8>>, Vec<u8>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        if let Some(i) = self.1.iter().rposition(|&b| b == b'\n') {
            let rest = self.1.split_off(i + 1);
            let _ = self.0.send(std::mem::replace(&mut self.1, rest));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One step of the build as the output shows it.
pub struct Vertex {
    pub n: usize,
    t0: Instant,
    title: String,
}

impl<O: Write> Progress<O> {
    pub fn new(out: O, tty: bool) -> Progress<O> {
        Progress {
            out,
            next: Arc::new(AtomicUsize::new(1)),
            tty,
            drawn: 0,
        }
    }

    /// A printer for a stage on another thread: plain lines through `tx`, numbered on.
    pub fn beside(&self, tx: mpsc::Sender<Vec<u8>>) -> Progress<Lines> {
        Progress {
            out: Lines(tx, Vec::new()),
            next: self.next.clone(),
            tty: false,
            drawn: 0,
        }
    }

    /// Writes what another stage's printer sent.
    pub fn relay(&mut self, chunk: &[u8]) {
        let _ = self.out.write_all(chunk);
        let _ = self.out.flush();
    }

    /// Starts vertex `#n` titled `title`.
    pub fn start(&mut self, title: &str) -> Vertex {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let _ = writeln!(self.out, "#{n} {title}");
        let _ = self.out.flush();
        self.drawn = 0;
        Vertex {
            n,
            t0: Instant::now(),
            title: title.to_string(),
        }
    }

    /// tty: wipes the step's title and live lines, to write its last state in their place.
    fn wipe(&mut self) {
        let _ = write!(self.out, "\x1b[{}A\r\x1b[J", self.drawn + 1);
        self.drawn = 0;
    }

    fn end(&mut self, v: &Vertex, state: &str) {
        if self.tty {
            self.wipe();
            let _ = writeln!(self.out, "#{} {}  {state}", v.n, v.title);
        } else {
            let _ = writeln!(self.out, "#{} {state}", v.n);
            let _ = writeln!(self.out);
        }
        let _ = self.out.flush();
    }

    pub fn cached(&mut self, v: &Vertex) {
        self.end(v, "CACHED");
    }

    pub fn done(&mut self, v: &Vertex) {
        let state = format!("DONE {:.1}s", v.t0.elapsed().as_secs_f64());
        self.end(v, &state);
    }

    pub fn error(&mut self, v: &Vertex, msg: &str) {
        // The output drawn stays on screen: it is what the user needs to see.
        self.drawn = 0;
        let _ = writeln!(self.out, "#{} ERROR: {msg}", v.n);
        let _ = self.out.flush();
    }

    pub fn note(&mut self, v: &Vertex, msg: &str) {
        let _ = writeln!(self.out, "#{} {msg}", v.n);
        if self.tty {
            self.drawn += 1;
        }
    }

    /// A writer for a RUN step's output: each line prefixed with the vertex and the time
    /// since it started; the last lines kept for the error if the step fails.
    pub fn output<'p>(&'p mut self, v: &Vertex) -> StepOutput<'p, O> {
        StepOutput {
            p: self,
            n: v.n,
            t0: v.t0,
            partial: Vec::new(),
            tail: VecDeque::new(),
        }
    }
}

/// RUN output, line by line (see `Progress::output`).
pub struct StepOutput<'p, O: Write> {
    p: &'p mut Progress<O>,
    n: usize,
    t0: Instant,
    partial: Vec<u8>,
    tail: VecDeque<String>,
}

impl<O: Write> StepOutput<'_, O> {
    fn line(&mut self, l: &[u8]) {
        let text = String::from_utf8_lossy(l);
        // Control characters escaped (the step's output is not trusted), tabs kept.
        let text: String = text
            .trim_end_matches('\r')
            .split('\t')
            .map(|p| crate::text::escape_for_terminal(p).into_owned())
            .collect::<Vec<_>>()
            .join("\t");
        let t = self.t0.elapsed().as_secs_f64();
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(text.clone());
        if !self.p.tty {
            let _ = writeln!(self.p.out, "#{} {t:.3} {text}", self.n);
            return;
        }
        // Redraw the last lines under the step's title.
        if self.p.drawn > 0 {
            let _ = write!(self.p.out, "\x1b[{}A\r\x1b[J", self.p.drawn);
        }
        let shown: Vec<&String> = self.tail.iter().rev().take(LIVE_LINES).rev().collect();
        for l in &shown {
            let cut: String = l.replace('\t', " ").chars().take(LIVE_WIDTH).collect();
            let _ = writeln!(self.p.out, "  \x1b[2m{cut}\x1b[0m");
        }
        self.p.drawn = shown.len();
    }

    /// Ends the output (a last line without a newline included); returns its last lines.
    pub fn finish(mut self) -> Vec<String> {
        if !self.partial.is_empty() {
            let l = std::mem::take(&mut self.partial);
            self.line(&l);
        }
        let _ = self.p.out.flush();
        self.tail.into_iter().collect()
    }
}

impl<O: Write> Write for StepOutput<'_, O> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let l: Vec<u8> = self.partial.drain(..=i).collect();
            self.line(&l[..l.len() - 1]);
        }
        let _ = self.p.out.flush();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.p.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_as_buildkit() {
        let mut buf = Vec::new();
        {
            let mut p = Progress::new(&mut buf, false);
            let v = p.start("[1/2] RUN echo hi");
            let mut o = p.output(&v);
            o.write_all(b"hi\nthere\x1b[31m\tx\npartial").unwrap();
            let tail = o.finish();
            assert_eq!(tail.len(), 3);
            p.done(&v);
            let v = p.start("[2/2] COPY a /a");
            p.cached(&v);
        }
        let s = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "#1 [1/2] RUN echo hi");
        assert!(
            lines[1].starts_with("#1 0.0") && lines[1].ends_with(" hi"),
            "{s}"
        );
        assert!(lines[2].ends_with("there\\x1b[31m\tx"), "{s}");
        assert!(lines[3].ends_with(" partial"), "{s}");
        assert!(lines[4].starts_with("#1 DONE "), "{s}");
        assert_eq!(lines[6..], ["#2 [2/2] COPY a /a", "#2 CACHED", ""]);
    }

    #[test]
    fn tty_ends_each_step_on_one_line() {
        let mut buf = Vec::new();
        {
            let mut p = Progress::new(&mut buf, true);
            let v = p.start("[1/1] RUN x");
            let mut o = p.output(&v);
            o.write_all(b"a\nb\n").unwrap();
            o.finish();
            p.done(&v);
        }
        let s = String::from_utf8(buf).unwrap();
        // Title, two live lines, then all three wiped and the final line written.
        assert!(s.contains("\x1b[3A\r\x1b[J#1 [1/1] RUN x  DONE"), "{s:?}");
    }
}
