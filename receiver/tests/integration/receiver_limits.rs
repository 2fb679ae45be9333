//! The receiver against bad clients, over real HTTP on loopback: a body larger than allowed, a client that
//! stops sending or trickles its headers, a gzip bomb, a bundle of too many entries. Each is refused quickly,
//! nothing is stored, and no temp file is left behind.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bundle::headers;
use flate2::Compression;
use flate2::write::GzEncoder;
use receiver::{Limits, ReceiverConfig, RunningReceiver};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1 << 20;

fn small_limits() -> Limits {
    Limits {
        max_body_bytes: MIB,
        max_unpacked_bytes: 64 * MIB,
        max_entries: 10,
        read_timeout: Duration::from_secs(2),
    }
}

async fn start(dir: &Path, limits: Limits) -> RunningReceiver {
    receiver::spawn(ReceiverConfig::new(dir.join("store")).with_limits(limits))
        .await
        .expect("receiver starts")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A tar header for one regular file entry of `size` bytes.
fn tar_header(path: &str, size: u64) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_path(path).expect("path");
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    header.as_bytes().to_vec()
}

/// A gzip bomb: a tar entry of `gib` GiB of zeros, as gzip members (a reader takes concatenated members as
/// one stream), about 1000 times smaller than what it unpacks to. Cheap to build: one 16 MiB member, repeated.
fn gzip_bomb(gib: u64) -> Vec<u8> {
    let member = gzip(&vec![0u8; 16 << 20]);
    let mut bomb = gzip(&tar_header("files/000000/zeros", gib << 30));
    for _ in 0..(gib << 6) {
        bomb.extend_from_slice(&member);
    }
    bomb
}

/// POSTs `body` as a bundle with correct headers.
async fn post_bundle(rx: &RunningReceiver, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(rx.url())
        .header("content-type", headers::BUNDLE_CONTENT_TYPE)
        .header(headers::CONTENT_SHA256, hex::encode(Sha256::digest(&body)))
        .header(headers::BUNDLE_ID, "bad-client")
        .header(headers::FILE_COUNT, "1")
        .body(body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("an answer")
}

/// Nothing stored, and no temp file left in the store.
fn assert_store_empty(rx: &RunningReceiver) {
    let left: Vec<_> = std::fs::read_dir(rx.store_dir())
        .expect("store")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "the store holds {left:?}");
    assert_eq!(rx.stats().stored, 0);
}

#[tokio::test]
async fn a_body_above_the_limit_is_refused_with_413() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path(), small_limits()).await;
    // Declared too large: refused before anything is written.
    let resp = post_bundle(&rx, vec![7u8; (2 * MIB) as usize]).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        resp.text()
            .await
            .expect("text")
            .contains("--max-body-bytes")
    );
    // Sent without a length (chunked): refused once the limit is passed.
    let chunks = (0..3).map(|_| Ok::<_, std::io::Error>(vec![7u8; (MIB / 2 + 1) as usize]));
    let resp = reqwest::Client::new()
        .post(rx.url())
        .header(headers::CONTENT_SHA256, "0".repeat(64))
        .header(headers::BUNDLE_ID, "chunked")
        .header(headers::FILE_COUNT, "1")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("an answer");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_store_empty(&rx);
    assert_eq!(rx.stats().rejected_total(), 2);
}

#[tokio::test]
async fn a_body_that_stops_coming_gets_408_after_the_read_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path(), small_limits()).await;
    let mut stream = tokio::net::TcpStream::connect(rx.addr())
        .await
        .expect("connect");
    let head = format!(
        "POST /contentListener HTTP/1.1\r\nHost: x\r\n{}: {}\r\n{}: stalled\r\n{}: 1\r\nContent-Length: 1000\r\n\r\n",
        headers::CONTENT_SHA256,
        "0".repeat(64),
        headers::BUNDLE_ID,
        headers::FILE_COUNT,
    );
    stream.write_all(head.as_bytes()).await.expect("headers");
    stream
        .write_all(b"the first bytes, then nothing")
        .await
        .expect("body");
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the receiver answers and closes within 10 s")
        .expect("read");
    let waited = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(5)).contains(&waited),
        "answered after {waited:?}"
    );
    eprintln!("a stalled body was answered 408 after {waited:?}");
    assert_store_empty(&rx);
}

#[tokio::test]
async fn headers_trickled_byte_by_byte_are_cut_off_after_the_read_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path(), small_limits()).await;
    let mut stream = tokio::net::TcpStream::connect(rx.addr())
        .await
        .expect("connect");
    stream
        .write_all(b"POST /contentListener HTTP/1.1\r\n")
        .await
        .expect("request line");
    let started = Instant::now();
    // A slowloris: one header byte every 200 ms, for ever (each well within any per-read timeout).
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(10) {
        if stream.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {} // an error answer (408) before the close
            Err(_) => {}
        }
    }
    let waited = started.elapsed();
    assert!(closed, "the connection was still open after {waited:?}");
    assert!(waited < Duration::from_secs(5), "cut off after {waited:?}");
    eprintln!("trickled headers were cut off after {waited:?}");
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_with_413_quickly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        max_body_bytes: 8 * MIB,
        ..small_limits()
    };
    let rx = start(dir.path(), limits).await;
    let bomb = gzip_bomb(4);
    assert!(
        (bomb.len() as u64) < limits.max_body_bytes,
        "the bomb fits the body limit: {} bytes",
        bomb.len()
    );
    let started = Instant::now();
    let resp = post_bundle(&rx, bomb).await;
    let took = started.elapsed();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        resp.text()
            .await
            .expect("text")
            .contains("--max-unpacked-bytes")
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    eprintln!("a 4 GiB gzip bomb was refused after {took:?}");
    assert_store_empty(&rx);
}

#[tokio::test]
async fn a_bundle_of_too_many_entries_is_refused_with_422() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path(), small_limits()).await;
    let mut tar = Vec::new();
    for i in 0..50 {
        tar.extend_from_slice(&tar_header(&format!("files/{i:06}/x"), 0));
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let resp = post_bundle(&rx, gzip(&tar)).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.expect("text").contains("--max-entries"));
    assert_store_empty(&rx);
}

/// The binary takes the limits from its flags.
#[tokio::test]
async fn the_binary_takes_its_limits_from_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_receiver"));
    command
        .args(["--listen", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("store"))
        .args(["--max-body-bytes", "1000", "--read-timeout-seconds", "1"])
        .env_remove("RECEIVER_PASSWORD")
        .env_remove("CREDENTIALS_SECRET_ID");
    let announced = crate::receiver_binary::spawn(command).await;
    let resp = reqwest::Client::new()
        .post(&announced.url)
        .header(headers::CONTENT_SHA256, "0".repeat(64))
        .header(headers::BUNDLE_ID, "flags")
        .header(headers::FILE_COUNT, "1")
        .body(vec![0u8; 1001])
        .send()
        .await
        .expect("an answer");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_receiver"))
        .args(["--max-entries", "0"])
        .output()
        .await
        .expect("run");
    assert!(!refused.status.success(), "0 entries is refused");
}
