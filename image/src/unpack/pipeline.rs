//! The two-thread pipeline of `unpack_layer` and its digests: the calling thread reads the
//! blob, hashes it (the compressed digest) and decompresses it; the tar goes in chunks to the
//! extracting thread, which hashes it (the diff_id) as the tar parser takes it.

use std::io::{self, BufReader, Read};
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use sha2::{Digest, Sha256};

use super::{Compression, UnpackError};

/// Raw input is read in big pieces: fewer read calls, bigger hash updates.
const INPUT_BUF: usize = 1 << 20;
/// Decompressed tar goes to the extracting thread in chunks of this size...
pub(super) const CHUNK: usize = 1 << 20;
/// ...with this many in flight, so neither thread waits on the other's every step.
pub(super) const CHUNKS_IN_FLIGHT: usize = 8;

/// The reading side: hashes the raw bytes, decompresses and sends the tar on in chunks, to the
/// end of the input. Returns false if the extractor hung up (it failed: see `extract`).
pub(super) fn read_layer<R: Read>(
    reader: R,
    raw_hash: &mut HashState,
    tx: &SyncSender<Vec<u8>>,
    free: &Receiver<Vec<u8>>,
) -> Result<bool, UnpackError> {
    let mut raw = HashingReader {
        inner: reader,
        state: raw_hash,
    };
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut raw, &mut magic).map_err(UnpackError::Stream)?;
    let input = BufReader::with_capacity(INPUT_BUF, (&magic[..n]).chain(raw));
    // Both decoders read their input to its very end (more gzip members, more zstd frames) or
    // fail on trailing junk, so the decompressed EOF is the raw EOF: nothing goes unhashed.
    let mut tar: Box<dyn Read> = match Compression::detect(&magic[..n]) {
        Compression::None => Box::new(input),
        // Multi-member like Go's gzip.Reader, which containerd and Docker use.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => {
            Box::new(zstd::Decoder::with_buffer(input).map_err(UnpackError::Stream)?)
        }
    };
    loop {
        let mut chunk = free.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let n = read_up_to(&mut tar, &mut chunk).map_err(UnpackError::Stream)?;
        if n == 0 {
            return Ok(true);
        }
        chunk.truncate(n);
        if tx.send(chunk).is_err() {
            return Ok(false);
        }
    }
}

pub(super) fn parse_digest(d: &str) -> Result<String, UnpackError> {
    match d.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
        }
        _ => Err(UnpackError::MalformedDigest { digest: d.into() }),
    }
}

pub(super) fn check_digest(
    which: &'static str,
    want: Option<String>,
    got: &str,
) -> Result<(), UnpackError> {
    match want {
        Some(expected) if expected != got => {
            let actual = got.to_string();
            Err(UnpackError::DigestMismatch {
                which,
                expected,
                actual,
            })
        }
        _ => Ok(()),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[derive(Default)]
pub(super) struct HashState {
    pub(super) sha: Sha256,
    pub(super) len: u64,
}

impl HashState {
    fn update(&mut self, data: &[u8]) {
        self.sha.update(data);
        self.len += data.len() as u64;
    }

    pub(super) fn digest(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::from("sha256:");
        for b in self.sha.clone().finalize().iter() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }
}

/// Hashes every byte that passes through, so the digest comes with the one streaming pass.
struct HashingReader<'h, R> {
    inner: R,
    state: &'h mut HashState,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.update(&buf[..n]);
        Ok(n)
    }
}

/// The extracting side's view of the tar stream: chunks from the reading thread, hashed here
/// for the diff_id (this thread has more time to spare); EOF when the reader hangs up.
pub(super) struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    free: Sender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    hash: HashState,
}

impl ChunkReader {
    pub(super) fn new(rx: Receiver<Vec<u8>>, free: Sender<Vec<u8>>) -> Self {
        let (chunk, pos, hash) = (Vec::new(), 0, HashState::default());
        ChunkReader {
            rx,
            free,
            chunk,
            pos,
            hash,
        }
    }

    /// Hashes whatever follows the end-of-archive blocks: not extracted, but part of the diff_id.
    pub(super) fn drain(mut self) -> HashState {
        for chunk in self.rx {
            self.hash.update(&chunk);
        }
        self.hash
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            let Ok(next) = self.rx.recv() else {
                return Ok(0);
            };
            self.hash.update(&next);
            // The reader may be gone already; then the chunk is simply dropped.
            let _ = self.free.send(std::mem::replace(&mut self.chunk, next));
            self.pos = 0;
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
