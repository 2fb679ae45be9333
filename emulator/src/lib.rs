//! Starts and stops moto server, the AWS emulator the tests and local runs talk to, on a loopback port
//! (and s3s-fs, an independent S3-compatible store, in [`S3sFs`]).
//!
//! moto comes from the project's Python environment (`.venv`, made by `cargo xtask setup` from
//! `requirements.txt`). When it is missing, starting fails with the command that installs it: a test
//! that needs the emulator never skips.
//!
//! It runs through `moto_fast.py` (embedded here, run with the environment's Python): moto's own server entry
//! point after two SQS paths that cost time linear in a queue's depth for every message are made O(1), and the
//! scans over a queue's messages read the clock once instead of twice per message, with the same results.
//! Without it moto, not the pipeline, limits a load test; see that file for what and why.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod s3s;

pub use s3s::{S3S_FS_INSTALL, S3S_FS_VERSION, S3sFs, local_bin};

/// What can go wrong while looking for or starting a tool.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{tool} is not installed at {path}: run `cargo xtask setup` (it creates .venv from requirements.txt)"
    )]
    Missing { tool: &'static str, path: PathBuf },
    #[error("could not start {tool}: {source}")]
    Spawn {
        tool: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} is not installed at {path}: run `cargo xtask setup` (it runs `{install}`)")]
    NotInstalled {
        tool: &'static str,
        path: PathBuf,
        install: &'static str,
    },
    #[error("{tool} did not answer on {endpoint} within {waited:?}; see {log}")]
    NotReady {
        tool: &'static str,
        endpoint: String,
        waited: Duration,
        log: PathBuf,
    },
    #[error("{tool} exited ({status}) before answering; it said:\n{output}")]
    Exited {
        tool: &'static str,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("no free loopback port: {0}")]
    NoPort(#[source] std::io::Error),
    #[error("moto server refused {call}: {answer}")]
    Refused { call: String, answer: String },
}

/// The workspace root: this crate lives one level below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The project's Python environment.
pub fn venv_dir() -> PathBuf {
    workspace_root().join(".venv")
}

/// A program installed in the project's Python environment, or an error saying how to install it.
pub fn venv_tool(tool: &'static str) -> Result<PathBuf, Error> {
    let path = venv_dir().join("bin").join(tool);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Missing { tool, path })
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::NoPort)?;
    Ok(listener.local_addr().map_err(Error::NoPort)?.port())
}

/// The launcher: patches moto 5.2.5's slow SQS paths, then runs `moto.server.main` on its arguments as
/// `moto_server` does. It refuses to start when moto's patched code is not what it was written against.
const MOTO_FAST: &str = include_str!("moto_fast.py");

/// A running moto server; stopped when dropped.
pub struct Moto {
    child: Child,
    endpoint: String,
    _log: tempfile_log::Log,
}

impl Moto {
    /// Starts moto server on a free loopback port and waits until it answers HTTP.
    pub fn start() -> Result<Moto, Error> {
        // moto_server is what the launcher stands in for: checking it keeps the message that says how to
        // install moto when the environment lacks it.
        venv_tool("moto_server")?;
        let python = venv_tool("python")?;
        let port = free_port()?;
        let log = tempfile_log::Log::new(port);
        let stdout = log.file().map_err(|source| Error::Spawn {
            tool: "moto_server",
            source,
        })?;
        let stderr = stdout.try_clone().map_err(|source| Error::Spawn {
            tool: "moto_server",
            source,
        })?;
        let child = Command::new(python)
            .args(["-c", MOTO_FAST, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::Spawn {
                tool: "moto_server",
                source,
            })?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            _log: log,
        };
        moto.wait_ready(port, Duration::from_secs(60))?;
        Ok(moto)
    }

    /// The endpoint URL to give the AWS SDK (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A Lambda function published in `versions` versions, with `alias` at version 1: what Terraform's applies
    /// leave, for the tests of what moves the alias afterwards. moto runs no code and takes unsigned requests,
    /// so this needs neither a zip nor the SDK (each version's "code" is a few distinct bytes).
    pub fn publish_function(
        &self,
        function: &str,
        versions: u32,
        alias: &str,
    ) -> Result<(), Error> {
        let role = self.call(
            "iam",
            "POST",
            "/",
            "application/x-www-form-urlencoded",
            &format!(
                "Action=CreateRole&Version=2010-05-08&RoleName={function}&AssumeRolePolicyDocument=%7B%7D"
            ),
        )?;
        let role = role
            .split("<Arn>")
            .nth(1)
            .and_then(|rest| rest.split("</Arn>").next())
            .unwrap_or_default();
        // Base64 of distinct bytes per version (moto stores them as the code).
        let code = |v: u32| format!("dmVy{v:04}");
        let functions = "/2015-03-31/functions";
        let json = "application/json";
        self.call(
            "lambda",
            "POST",
            functions,
            json,
            &format!(
                r#"{{"FunctionName":"{function}","Runtime":"provided.al2023","Handler":"bootstrap","Role":"{role}","Code":{{"ZipFile":"{}"}},"Publish":true}}"#,
                code(1)
            ),
        )?;
        for v in 2..=versions {
            self.call(
                "lambda",
                "PUT",
                &format!("{functions}/{function}/code"),
                json,
                &format!(r#"{{"ZipFile":"{}","Publish":true}}"#, code(v)),
            )?;
        }
        self.call(
            "lambda",
            "POST",
            &format!("{functions}/{function}/aliases"),
            json,
            &format!(r#"{{"Name":"{alias}","FunctionVersion":"1"}}"#),
        )?;
        Ok(())
    }

    /// One unsigned request to `service`; the answer, or what was wrong with it.
    fn call(
        &self,
        service: &str,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<String, Error> {
        let refused = |answer: String| Error::Refused {
            call: format!("{method} {path} ({service})"),
            answer,
        };
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).map_err(|e| refused(e.to_string()))?;
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: {content_type}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-2/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut answer = String::new();
        stream
            .write_all(request.as_bytes())
            .and_then(|()| stream.read_to_string(&mut answer))
            .map_err(|e| refused(e.to_string()))?;
        let status = answer.split_whitespace().nth(1).unwrap_or_default();
        if status.starts_with('2') {
            Ok(answer)
        } else {
            Err(refused(answer))
        }
    }

    fn wait_ready(&mut self, port: u16, limit: Duration) -> Result<(), Error> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if answers_http(port) {
                return Ok(());
            }
            // Fail at once, with its words, when it cannot start (say, the launcher refuses a changed moto),
            // rather than after the whole wait with a log that is removed with it.
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Exited {
                    tool: "moto server",
                    status,
                    output: std::fs::read_to_string(&self._log.path).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Error::NotReady {
            tool: "moto server",
            endpoint: self.endpoint.clone(),
            waited: limit,
            log: self._log.path.clone(),
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when something on the port answers an HTTP request with a status line.
fn answers_http(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/data.json HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    matches!(stream.read(&mut head), Ok(n) if n >= 9 && head.starts_with(b"HTTP/"))
}

/// Where moto's output goes, so a failure to start can point at it.
mod tempfile_log {
    use std::fs::File;
    use std::path::PathBuf;

    pub struct Log {
        pub path: PathBuf,
    }

    impl Log {
        pub fn new(port: u16) -> Log {
            Log {
                path: std::env::temp_dir().join(format!("moto-{port}.log")),
            }
        }

        pub fn file(&self) -> std::io::Result<File> {
            File::create(&self.path)
        }
    }

    impl Drop for Log {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
