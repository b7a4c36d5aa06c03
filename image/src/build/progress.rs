//! Build output in BuildKit's plain progress form: `#n [stage m/k] INSTRUCTION`, the RUN
//! output as `#n 0.123 line`, `#n CACHED` or `#n DONE 0.4s`, `#n ERROR: ...`.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Instant;

/// How many of a failed RUN's last output lines its error repeats.
pub const TAIL_LINES: usize = 10;

/// The progress printer of one build.
pub struct Progress<'w> {
    out: &'w mut dyn Write,
    next: usize,
}

impl<'w> Progress<'w> {
    pub fn new(out: &'w mut dyn Write) -> Progress<'w> {
        Progress { out, next: 1 }
    }

    /// Starts vertex `#n` titled `title`.
    pub fn start(&mut self, title: &str) -> Vertex {
        let n = self.next;
        self.next += 1;
        let _ = writeln!(self.out, "#{n} {title}");
        let _ = self.out.flush();
        Vertex {
            n,
            t0: Instant::now(),
        }
    }

    pub fn cached(&mut self, v: &Vertex) {
        let _ = writeln!(self.out, "#{} CACHED", v.n);
        let _ = writeln!(self.out);
    }

    pub fn done(&mut self, v: &Vertex) {
        let _ = writeln!(
            self.out,
            "#{} DONE {:.1}s",
            v.n,
            v.t0.elapsed().as_secs_f64()
        );
        let _ = writeln!(self.out);
        let _ = self.out.flush();
    }

    pub fn error(&mut self, v: &Vertex, msg: &str) {
        let _ = writeln!(self.out, "#{} ERROR: {msg}", v.n);
        let _ = self.out.flush();
    }

    pub fn note(&mut self, v: &Vertex, msg: &str) {
        let _ = writeln!(self.out, "#{} {msg}", v.n);
    }

    /// A writer for a RUN step's output: each line prefixed with the vertex and the time
    /// since it started; the last lines kept for the error if the step fails.
    pub fn output<'p>(&'p mut self, v: &Vertex) -> StepOutput<'p, 'w> {
        StepOutput {
            p: self,
            n: v.n,
            t0: v.t0,
            partial: Vec::new(),
            tail: VecDeque::new(),
        }
    }
}

/// One step of the build as the output shows it.
pub struct Vertex {
    pub n: usize,
    t0: Instant,
}

/// RUN output, line by line (see `Progress::output`).
pub struct StepOutput<'p, 'w> {
    p: &'p mut Progress<'w>,
    n: usize,
    t0: Instant,
    partial: Vec<u8>,
    tail: VecDeque<String>,
}

impl StepOutput<'_, '_> {
    fn line(&mut self, l: &[u8]) {
        let text = String::from_utf8_lossy(l);
        // Control characters escaped (the step's output is not trusted), tabs kept.
        let text: String = text
            .trim_end_matches('\r')
            .split('\t')
            .map(|p| crate::text::escape_for_terminal(p).into_owned())
            .collect::<Vec<_>>()
            .join("\t");
        let _ = writeln!(
            self.p.out,
            "#{} {:.3} {text}",
            self.n,
            self.t0.elapsed().as_secs_f64()
        );
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(text);
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

impl Write for StepOutput<'_, '_> {
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
