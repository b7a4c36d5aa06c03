//! `ADD <url>`: the file downloaded into a directory of its own (the name from the URL's
//! last path element), hashed as it streams, checked against `--checksum` when given.

use std::io::Write;
use std::path::Path;

use futures_util::StreamExt;

use crate::digest::{Digest, HashingWriter};

/// Whether an ADD source is a URL.
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The file name ADD gives a URL's content: its path's last element.
pub fn file_name(url: &str) -> Result<String, String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let name = path
        .split_once('/')
        .map_or("", |(_, p)| p)
        .rsplit('/')
        .next()
        .unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!(
            "{url}: no file name in the URL: give a destination file, not a directory"
        ));
    }
    Ok(name.to_string())
}

/// Downloads `url` to `dir/name`; returns its digest. A `checksum` (`sha256:<hex>`) that
/// does not match fails (and removes the file).
pub fn download(
    url: &str,
    dir: &Path,
    name: &str,
    checksum: Option<&str>,
) -> Result<Digest, String> {
    let want = checksum
        .map(|c| {
            c.parse::<Digest>()
                .map_err(|_| format!("--checksum={c}: want sha256:<64 hex digits>"))
        })
        .transpose()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start async runtime: {e}"))?;
    let path = dir.join(name);
    let got = rt.block_on(async {
        let resp = reqwest::get(url)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: {}", resp.status()));
        }
        let f = std::fs::File::create_new(&path)
            .map_err(|e| format!("create {}: {e}", path.display()))?;
        let mut w = HashingWriter::new(std::io::BufWriter::new(f));
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| format!("GET {url}: {e}"))?;
            w.write_all(&chunk)
                .map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        let (buf, d, _) = w.finish();
        buf.into_inner()
            .map_err(|e| format!("write {}: {e}", path.display()))?;
        Ok(d)
    })?;
    if let Some(w) = want {
        if w != got {
            let _ = std::fs::remove_file(&path);
            return Err(format!("{url}: checksum mismatch: want {w}, got {got}"));
        }
    }
    // Docker gives a downloaded file mode 0600.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_urls() {
        assert_eq!(
            file_name("https://x.org/a/b.tar.gz?x=1").unwrap(),
            "b.tar.gz"
        );
        assert_eq!(file_name("http://x.org/f").unwrap(), "f");
        assert!(file_name("http://x.org/").is_err());
        assert!(file_name("http://x.org").is_err());
        assert!(is_url("https://a") && !is_url("a/https://"));
    }
}
