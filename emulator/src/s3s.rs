//! Starts `s3s-fs`, an S3-compatible server independent of moto, on a loopback port: the store the MinIO sink
//! is tested against. Unlike moto it verifies `Content-MD5` and `x-amz-checksum-sha256` on arrival (BadDigest),
//! checks SigV4 signatures with its one access key, and reports the checksums with HeadObject.
//!
//! `cargo xtask setup` installs it into the git-ignored `.local/` with [`S3S_FS_INSTALL`]; when it is missing,
//! starting fails with that command: a test that needs it never skips.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, answers_http, free_port, workspace_root};

/// The version the tests were written against (newer ones need a newer rustc than the image's).
pub const S3S_FS_VERSION: &str = "0.14.1";
/// What `cargo xtask setup` runs, from the workspace root, to install it.
pub const S3S_FS_INSTALL: &str =
    "cargo install s3s-fs@0.14.1 --features binary --locked --root .local";

/// Where `cargo xtask setup` installs project tools that are not Python packages.
pub fn local_bin(tool: &str) -> PathBuf {
    workspace_root().join(".local").join("bin").join(tool)
}

/// A running s3s-fs with its data directory; stopped (and the directory removed) when dropped.
pub struct S3sFs {
    child: Child,
    port: u16,
    root: PathBuf,
}

impl S3sFs {
    /// Starts s3s-fs on a free loopback port, requiring SigV4 with this access key and secret key.
    pub fn start(access_key: &str, secret_key: &str) -> Result<S3sFs, Error> {
        S3sFs::start_on(free_port()?, access_key, secret_key)
    }

    /// Starts it on `port` (a restart on the port a client already points at, say with other keys).
    pub fn start_on(port: u16, access_key: &str, secret_key: &str) -> Result<S3sFs, Error> {
        let binary = local_bin("s3s-fs");
        if !binary.is_file() {
            return Err(Error::NotInstalled {
                tool: "s3s-fs",
                path: binary,
                install: S3S_FS_INSTALL,
            });
        }
        let root = std::env::temp_dir().join(format!("s3s-fs-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&root).map_err(|source| Error::Spawn {
            tool: "s3s-fs",
            source,
        })?;
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", access_key, "--secret-key", secret_key])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                tool: "s3s-fs",
                source,
            })?;
        let mut server = S3sFs { child, port, root };
        server.wait_ready(Duration::from_secs(30))?;
        Ok(server)
    }

    /// The endpoint URL (path-style addressing).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The stored bytes of an object, as s3s-fs keeps them on disk.
    pub fn object(&self, bucket: &str, key: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.root.join(bucket).join(key))
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), Error> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if answers_http(self.port) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Exited {
                    tool: "s3s-fs",
                    status,
                    output: format!("(its port was {})", self.port),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Error::NotReady {
            tool: "s3s-fs",
            endpoint: self.endpoint(),
            waited: limit,
            log: self.root.clone(),
        })
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
