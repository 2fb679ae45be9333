//! The receiver over real HTTP on loopback: real tar.gz bundles, real reqwest clients, real faults.

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use bundle::headers;
use bundle::layout;
use bundle::manifest::{FileEntry, MANIFEST_NAME, Manifest};
use flate2::Compression;
use flate2::write::GzEncoder;
use receiver::{BasicCredentials, Fault, ReceiverConfig, RunningReceiver, Stats};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn manifest_for(bundle_id: &str, files: &[(&str, &[u8])]) -> Manifest {
    Manifest {
        format: layout::FORMAT,
        bundle_id: bundle_id.to_owned(),
        created_at: "2026-01-02T03:04:05Z".to_owned(),
        files: files
            .iter()
            .map(|(path, data)| FileEntry {
                bucket: "landing".to_owned(),
                key: (*path).to_owned(),
                path: (*path).to_owned(),
                version_id: Some("v1".to_owned()),
                size: data.len() as u64,
                etag: "\"etag\"".to_owned(),
                event_time: "2026-01-02T03:04:00Z".to_owned(),
                sha256: sha_hex(data),
            })
            .collect(),
    }
}

/// Appends an entry named exactly `path`, as a careless or hostile sender could (tar-rs itself refuses `..`).
fn append(builder: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    let name = &mut header.as_old_mut().name;
    assert!(path.len() < name.len(), "{path} needs a long-name entry");
    name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_cksum();
    builder.append(&header, data).expect("append tar entry");
}

/// A tar.gz with `entries` in order and `manifest` as the last entry.
fn tar_gz(entries: &[(&str, &[u8])], manifest: &Manifest) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (path, data) in entries {
        append(&mut builder, path, data);
    }
    append(
        &mut builder,
        MANIFEST_NAME,
        &serde_json::to_vec(manifest).expect("manifest json"),
    );
    builder
        .into_inner()
        .expect("finish tar")
        .finish()
        .expect("finish gzip")
}

const FILES: &[(&str, &[u8])] = &[
    (
        "files/000000/incoming/a.csv",
        b"id,value\n1,alpha\n2,beta\n",
    ),
    ("files/000001/incoming/b.json", b"{\"hello\":\"world\"}"),
    ("files/000002/c with space.txt", b"third file"),
];

fn good_bundle(bundle_id: &str) -> (Vec<u8>, Manifest) {
    let manifest = manifest_for(bundle_id, FILES);
    (tar_gz(FILES, &manifest), manifest)
}

/// The headers a correct sender attaches.
fn bundle_headers(body: &[u8], bundle_id: &str, file_count: usize) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", headers::BUNDLE_CONTENT_TYPE.to_owned()),
        (headers::CONTENT_SHA256, sha_hex(body)),
        (headers::BUNDLE_ID, bundle_id.to_owned()),
        (headers::FILE_COUNT, file_count.to_string()),
        (headers::FILENAME, format!("{bundle_id}.tar.gz")),
    ]
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
) -> reqwest::Result<reqwest::Response> {
    let mut request = client.post(url).body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await
}

async fn start(dir: &Path) -> RunningReceiver {
    receiver::spawn(ReceiverConfig::new(dir.join("store")))
        .await
        .expect("receiver starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn stored_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read store")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_good_bundle_is_stored_with_its_record_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let client = client();
    assert_eq!(rx.url(), format!("http://{}/contentListener", rx.addr()));

    let (body, manifest) = good_bundle("bundle-1");
    let resp = post(
        &client,
        &rx.url(),
        body.clone(),
        &bundle_headers(&body, "bundle-1", 3),
    )
    .await
    .expect("post");
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);

    let store = rx.store_dir().to_owned();
    assert_eq!(
        stored_files(&store),
        vec!["bundle-1.json", "bundle-1.tar.gz"]
    );
    assert_eq!(
        std::fs::read(store.join("bundle-1.tar.gz")).expect("bundle on disk"),
        body
    );

    let records = rx.stored_bundles().expect("records");
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.bundle_id, "bundle-1");
    assert_eq!(record.sha256, sha_hex(&body));
    assert_eq!(record.size, body.len() as u64);
    assert!(!record.replay);
    assert_eq!(record.filename.as_deref(), Some("bundle-1.tar.gz"));
    assert_eq!(record.manifest, manifest);
    let age = time::OffsetDateTime::now_utc() - record.received_at;
    assert!(
        age >= time::Duration::ZERO && age < time::Duration::minutes(1),
        "{age}"
    );

    // A duplicate (here a replay) overwrites and is counted.
    let mut replay_headers = bundle_headers(&body, "bundle-1", 3);
    replay_headers.push((headers::REPLAY, "true".to_owned()));
    let resp = post(&client, &rx.url(), body.clone(), &replay_headers)
        .await
        .expect("post again");
    assert_eq!(resp.status(), StatusCode::OK);
    let records = rx.stored_bundles().expect("records");
    assert_eq!(records.len(), 1);
    assert!(records[0].replay);

    let stats = rx.stats();
    assert_eq!(stats.stored, 2);
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.rejected_total(), 0);
    assert_eq!(stats.stored_bundle_ids, vec!["bundle-1".to_owned()]);

    let over_http: Stats = client
        .get(format!("{}/_control/stats", rx.base_url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    assert_eq!(over_http, stats);
    // No upload leftovers once everything is answered.
    assert_eq!(
        stored_files(&store),
        vec!["bundle-1.json", "bundle-1.tar.gz"]
    );
    rx.shutdown().await;
}

#[tokio::test]
async fn a_wrong_or_missing_hash_is_rejected_with_400_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let client = client();
    let (body, _) = good_bundle("bundle-2");

    let mut wrong = bundle_headers(&body, "bundle-2", 3);
    wrong[1].1 = sha_hex(b"something else");
    let resp = post(&client, &rx.url(), body.clone(), &wrong)
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let text = resp.text().await.expect("text");
    assert!(
        text.contains(&sha_hex(&body)),
        "names the computed hash: {text}"
    );

    let mut missing = bundle_headers(&body, "bundle-2", 3);
    missing.remove(1);
    let resp = post(&client, &rx.url(), body.clone(), &missing)
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .expect("text")
            .contains(headers::CONTENT_SHA256)
    );

    let mut traversal = bundle_headers(&body, "../escape", 3);
    traversal[1].1 = sha_hex(&body);
    let resp = post(&client, &rx.url(), body.clone(), &traversal)
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    assert!(
        stored_files(rx.store_dir()).is_empty(),
        "{:?}",
        stored_files(rx.store_dir())
    );
    assert!(!dir.path().join("escape.tar.gz").exists());
    let stats = rx.stats();
    assert_eq!(stats.stored, 0);
    assert_eq!(stats.rejected.get("hash_mismatch"), Some(&1));
    assert_eq!(stats.rejected.get("bad_header"), Some(&2));
}

#[tokio::test]
async fn content_encoding_gzip_is_refused_with_415_and_an_explanation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let (body, _) = good_bundle("bundle-3");
    let mut hdrs = bundle_headers(&body, "bundle-3", 3);
    hdrs.push(("content-encoding", "gzip".to_owned()));
    let resp = post(&client(), &rx.url(), body, &hdrs).await.expect("post");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let text = resp.text().await.expect("text");
    assert!(text.contains("gunzip"), "{text}");
    assert!(stored_files(rx.store_dir()).is_empty());
    assert_eq!(rx.stats().rejected.get("content_encoding"), Some(&1));
}

#[tokio::test]
async fn bundles_that_do_not_match_their_manifest_are_rejected_with_422() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let client = client();
    let manifest = manifest_for("bundle-4", FILES);

    // (what is wrong, body, file count header, bundle id header, a word the message must contain)
    let tampered: Vec<(&str, &[u8])> = vec![
        FILES[0],
        ("files/000001/incoming/b.json", b"{\"hello\":\"WORLD\"}"),
        FILES[2],
    ];
    let missing: Vec<(&str, &[u8])> = vec![FILES[0], FILES[2]];
    let extra: Vec<(&str, &[u8])> = vec![
        FILES[0],
        FILES[1],
        FILES[2],
        ("smuggled.bin", b"not listed"),
    ];
    let cases: Vec<(&str, Vec<u8>, usize, &str, &str)> = vec![
        (
            "tampered file",
            tar_gz(&tampered, &manifest),
            3,
            "bundle-4",
            "incoming/b.json",
        ),
        (
            "missing file",
            tar_gz(&missing, &manifest),
            3,
            "bundle-4",
            "incoming/b.json",
        ),
        (
            "extra entry",
            tar_gz(&extra, &manifest),
            3,
            "bundle-4",
            "smuggled.bin",
        ),
        (
            "wrong count",
            tar_gz(FILES, &manifest),
            4,
            "bundle-4",
            "x-file-count",
        ),
        (
            "wrong bundle id",
            tar_gz(FILES, &manifest),
            3,
            "bundle-5",
            "bundle_id",
        ),
        (
            "manifest not last",
            {
                let mut builder =
                    tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
                append(
                    &mut builder,
                    MANIFEST_NAME,
                    &serde_json::to_vec(&manifest).expect("json"),
                );
                for (path, data) in FILES {
                    append(&mut builder, path, data);
                }
                builder.into_inner().expect("tar").finish().expect("gzip")
            },
            3,
            "bundle-4",
            "last entry",
        ),
        (
            "no manifest",
            {
                let mut builder =
                    tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
                for (path, data) in FILES {
                    append(&mut builder, path, data);
                }
                builder.into_inner().expect("tar").finish().expect("gzip")
            },
            3,
            "bundle-4",
            MANIFEST_NAME,
        ),
    ];
    let n = cases.len() as u64;
    for (what, body, count, id, word) in cases {
        let resp = post(
            &client,
            &rx.url(),
            body.clone(),
            &bundle_headers(&body, id, count),
        )
        .await
        .expect("post");
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let text = resp.text().await.expect("text");
        assert!(
            text.contains(word),
            "{what}: message should name `{word}`: {text}"
        );
    }

    // A body that is not a tar.gz at all is not a bundle either.
    let junk = b"definitely not gzip".to_vec();
    let resp = post(
        &client,
        &rx.url(),
        junk.clone(),
        &bundle_headers(&junk, "bundle-4", 3),
    )
    .await
    .expect("post");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    assert!(
        stored_files(rx.store_dir()).is_empty(),
        "{:?}",
        stored_files(rx.store_dir())
    );
    let stats = rx.stats();
    assert_eq!(stats.stored, 0);
    assert_eq!(stats.rejected.get("manifest_mismatch"), Some(&n));
    assert_eq!(stats.rejected.get("invalid_bundle"), Some(&1));
}

/// Format 2: the manifest is the last entry, named MANIFEST.json at the top level, and every file is under
/// `files/` — so a file keyed MANIFEST.json is just a file, and anything else at the top level is refused.
/// A bundle of format 1 (no `format` in its manifest, archived before this layout) is still taken.
#[tokio::test]
async fn the_manifest_is_the_last_entry_and_every_file_is_under_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let client = client();
    let send = |body: Vec<u8>, id: &'static str, count: usize| {
        let client = client.clone();
        let url = rx.url();
        async move {
            let resp = post(
                &client,
                &url,
                body.clone(),
                &bundle_headers(&body, id, count),
            )
            .await
            .expect("post");
            (resp.status(), resp.text().await.expect("text"))
        }
    };

    let keyed_like_the_manifest: &[(&str, &[u8])] = &[
        ("files/000000/MANIFEST.json", b"{\"not\":\"the manifest\"}"),
        ("files/000001/MANIFEST.json", b"a second version"),
    ];
    let manifest = manifest_for("layout-1", keyed_like_the_manifest);
    let (status, text) = send(tar_gz(keyed_like_the_manifest, &manifest), "layout-1", 2).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    let outside: &[(&str, &[u8])] = &[FILES[0], ("notes.txt", b"at the top level")];
    let manifest = manifest_for("layout-2", outside);
    let (status, text) = send(tar_gz(outside, &manifest), "layout-2", 2).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("`notes.txt` is outside `files/`"), "{text}");

    let escaping: &[(&str, &[u8])] = &[("files/../escaped.txt", b"up and out")];
    let manifest = manifest_for("layout-3", escaping);
    let (status, text) = send(tar_gz(escaping, &manifest), "layout-3", 1).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");

    // Format 1: files under their keys, the manifest without `format`.
    let legacy: &[(&str, &[u8])] = &[("incoming/a.csv", b"id\n1\n")];
    let mut manifest = serde_json::to_value(manifest_for("layout-4", legacy)).expect("json");
    manifest.as_object_mut().expect("object").remove("format");
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    append(&mut builder, legacy[0].0, legacy[0].1);
    append(
        &mut builder,
        MANIFEST_NAME,
        &serde_json::to_vec(&manifest).expect("json"),
    );
    let body = builder.into_inner().expect("tar").finish().expect("gzip");
    let (status, text) = send(body, "layout-4", 1).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    let stored: Vec<String> = rx
        .stored_bundles()
        .expect("records")
        .into_iter()
        .map(|b| format!("{} format {}", b.bundle_id, b.manifest.format))
        .collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored.contains(&"layout-1 format 2".to_string()),
        "{stored:?}"
    );
    assert!(
        stored.contains(&"layout-4 format 1".to_string()),
        "{stored:?}"
    );
}

#[tokio::test]
async fn basic_auth_is_required_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ReceiverConfig::new(dir.path().join("store"))
        .with_credentials(BasicCredentials::new("nifi", "correct horse"));
    let rx = receiver::spawn(config).await.expect("receiver starts");
    let client = client();
    let (body, _) = good_bundle("bundle-6");
    let hdrs = bundle_headers(&body, "bundle-6", 3);

    let resp = post(&client, &rx.url(), body.clone(), &hdrs)
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .expect("challenge")
        .to_str()
        .expect("ascii");
    assert!(challenge.starts_with("Basic "), "{challenge}");

    let mut request = client
        .post(rx.url())
        .basic_auth("nifi", Some("wrong horse"))
        .body(body.clone());
    for (name, value) in &hdrs {
        request = request.header(*name, value);
    }
    assert_eq!(
        request.send().await.expect("post").status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(stored_files(rx.store_dir()).is_empty());

    // The control API is protected too; the healthcheck is not, so scripts can wait without the password.
    let resp = client
        .get(format!("{}/_control/stats", rx.base_url()))
        .send()
        .await
        .expect("stats");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = client
        .get(format!("{}/healthcheck", rx.url()))
        .send()
        .await
        .expect("health");
    assert_eq!(resp.status(), StatusCode::OK);

    let mut request = client
        .post(rx.url())
        .basic_auth("nifi", Some("correct horse"))
        .body(body.clone());
    for (name, value) in &hdrs {
        request = request.header(*name, value);
    }
    assert_eq!(request.send().await.expect("post").status(), StatusCode::OK);
    assert_eq!(
        stored_files(rx.store_dir()),
        vec!["bundle-6.json", "bundle-6.tar.gz"]
    );
    let stats = rx.stats();
    assert_eq!(stats.unauthorized, 3);
    assert_eq!(stats.stored, 1);
}

#[tokio::test]
async fn it_answers_like_listenhttp_on_its_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ReceiverConfig::new(dir.path().join("store"));
    config.path = "/nifi/in".to_owned();
    let rx = receiver::spawn(config).await.expect("receiver starts");
    let client = client();
    assert!(rx.url().ends_with("/nifi/in"));

    let health = client
        .get(format!("{}/healthcheck", rx.url()))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        client.head(rx.url()).send().await.expect("head").status(),
        StatusCode::OK
    );
    let get = client.get(rx.url()).send().await.expect("get");
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        get.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"POST, HEAD"[..])
    );
    let other = client
        .post(format!("{}/contentListener", rx.base_url()))
        .send()
        .await
        .expect("post");
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    let bad = ReceiverConfig {
        path: "/_control/x".to_owned(),
        ..ReceiverConfig::new(dir.path())
    };
    assert!(matches!(
        receiver::spawn(bad).await,
        Err(receiver::ReceiverError::InvalidPath(_))
    ));
}

#[tokio::test]
async fn fault_503_refuses_without_storing_until_cleared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let client = client();
    let (body, _) = good_bundle("bundle-7");
    let hdrs = bundle_headers(&body, "bundle-7", 3);

    rx.set_fault(Fault::Unavailable);
    assert_eq!(rx.fault(), Fault::Unavailable);
    let resp = post(&client, &rx.url(), body.clone(), &hdrs)
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health = client
        .get(format!("{}/healthcheck", rx.url()))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(stored_files(rx.store_dir()).is_empty());

    rx.set_fault(Fault::None);
    let resp = post(&client, &rx.url(), body.clone(), &hdrs)
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::OK);
    let stats = rx.stats();
    assert_eq!(stats.faulted, 2);
    assert_eq!(stats.stored, 1);
}

#[tokio::test]
async fn fault_timeout_stalls_past_the_client_timeout_without_storing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let client = client();
    let set = client
        .post(format!("{}/_control/fault", rx.base_url()))
        .json(&serde_json::json!({"mode": "timeout", "delay_ms": 2000}))
        .send()
        .await
        .expect("control");
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(
        rx.fault(),
        Fault::Timeout {
            delay: Duration::from_millis(2000)
        }
    );

    let (body, _) = good_bundle("bundle-8");
    let hdrs = bundle_headers(&body, "bundle-8", 3);
    let started = Instant::now();
    let mut request = client
        .post(rx.url())
        .timeout(Duration::from_millis(300))
        .body(body.clone());
    for (name, value) in &hdrs {
        request = request.header(*name, value);
    }
    let err = request.send().await.expect_err("the client must time out");
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1900));

    // A patient client gets the 503 once the stall is over.
    let started = Instant::now();
    let resp = post(&client, &rx.url(), body, &hdrs).await.expect("post");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert!(stored_files(rx.store_dir()).is_empty());
    assert_eq!(rx.stats().faulted, 2);
}

#[tokio::test]
async fn fault_drop_closes_the_connection_without_a_response() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let client = client();
    rx.set_fault(Fault::Drop);
    let (body, _) = good_bundle("bundle-9");
    let hdrs = bundle_headers(&body, "bundle-9", 3);
    let err = post(&client, &rx.url(), body.clone(), &hdrs)
        .await
        .expect_err("no response expected");
    assert!(err.status().is_none(), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");
    let err = client
        .head(rx.url())
        .send()
        .await
        .expect_err("no response expected");
    assert!(err.status().is_none(), "{err:?}");
    assert!(stored_files(rx.store_dir()).is_empty());
    assert_eq!(rx.stats().faulted, 2);

    // The control API is never faulted, so the fault can always be cleared.
    let clear = client
        .post(format!("{}/_control/fault", rx.base_url()))
        .json(&serde_json::json!({"mode": "none"}))
        .send()
        .await
        .expect("control");
    assert_eq!(clear.status(), StatusCode::OK);
    assert_eq!(
        post(&client, &rx.url(), body, &hdrs)
            .await
            .expect("post")
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_fault_with_seconds_expires_by_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let client = client();
    let status: serde_json::Value = client
        .post(format!("{}/_control/fault", rx.base_url()))
        .json(&serde_json::json!({"mode": "503", "seconds": 1.0}))
        .send()
        .await
        .expect("control")
        .json()
        .await
        .expect("json");
    assert_eq!(status["mode"], "503");
    assert!(status["remaining_seconds"].as_f64().expect("remaining") <= 1.0);

    let health = format!("{}/healthcheck", rx.url());
    assert_eq!(
        client.get(&health).send().await.expect("health").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        client.get(&health).send().await.expect("health").status(),
        StatusCode::OK
    );
    assert_eq!(rx.fault(), Fault::None);

    // The in-process handle does the same.
    rx.set_fault_for(Fault::Drop, Duration::from_millis(1000));
    assert!(client.get(&health).send().await.is_err());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        client.get(&health).send().await.expect("health").status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_control_endpoint_reports_and_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start(dir.path()).await;
    let client = client();
    let fault_url = format!("{}/_control/fault", rx.base_url());

    let current: serde_json::Value = client
        .get(&fault_url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(current, serde_json::json!({"mode": "none"}));

    for bad in [
        serde_json::json!({"mode": "sometimes"}),
        serde_json::json!({"mode": "503", "seconds": -1}),
        serde_json::json!({"mode": "503", "colour": "red"}),
    ] {
        let resp = client
            .post(&fault_url)
            .json(&bad)
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let resp = client
        .post(&fault_url)
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(rx.fault(), Fault::None);

    let set: serde_json::Value = client
        .post(&fault_url)
        .json(&serde_json::json!({"mode": "timeout"}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(
        set,
        serde_json::json!({"mode": "timeout", "delay_ms": 30000})
    );
    assert_eq!(
        rx.fault(),
        Fault::Timeout {
            delay: receiver::DEFAULT_TIMEOUT_DELAY
        }
    );

    let stats: Stats = client
        .get(format!("{}/_control/stats", rx.base_url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    // Control requests are not counted as traffic.
    assert_eq!(stats.requests, 0);
    let resp = client
        .get(format!("{}/_control/nothing", rx.base_url()))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// Incompressible, reproducible bytes (xorshift64), so the large bundle can be produced twice without being kept.
struct Noise {
    state: u64,
    left: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX))
            / 8
            * 8;
        let n = if n == 0 {
            buf.len().min(self.left as usize)
        } else {
            n
        };
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

struct HashingSink {
    hasher: Sha256,
    len: u64,
}

impl Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the large bundle into `out`; the first call (with `file_sha` None) learns the file's hash.
fn write_large_bundle(
    out: impl Write,
    size: u64,
    file_sha: &str,
    bundle_id: &str,
) -> io::Result<()> {
    // Stored blocks: the data is incompressible anyway and the debug build stays fast.
    let mut builder = tar::Builder::new(GzEncoder::new(out, Compression::none()));
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    builder.append_data(
        &mut header,
        "files/000000/large/noise.bin",
        Noise {
            state: 0x9E37_79B9_7F4A_7C15,
            left: size,
        },
    )?;
    let mut manifest = manifest_for(bundle_id, &[]);
    manifest.files.push(FileEntry {
        bucket: "landing".into(),
        key: "large/noise.bin".into(),
        path: "files/000000/large/noise.bin".into(),
        version_id: None,
        size,
        etag: "\"x\"".into(),
        event_time: "2026-01-02T03:04:00Z".into(),
        sha256: file_sha.to_owned(),
    });
    append(
        &mut builder,
        MANIFEST_NAME,
        &serde_json::to_vec(&manifest).map_err(io::Error::other)?,
    );
    builder.into_inner()?.finish()?.flush()
}

struct ChannelWriter(tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::other("receiver of the body went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// The binary as scripts use it: stdout line, password from the environment, a 50 MiB streamed bundle stored
/// while its own memory stays far below the bundle's size, and a clean exit on SIGTERM.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_binary_streams_a_large_bundle_to_disk_without_holding_it() {
    use std::process::{Command, Stdio};

    const SIZE: u64 = 50 * 1024 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");

    // Refuses a username without a password.
    let refused = Command::new(env!("CARGO_BIN_EXE_receiver"))
        .args(["--listen", "127.0.0.1:0", "--username", "nifi", "--store"])
        .arg(&store)
        .env_remove("RECEIVER_PASSWORD")
        .output()
        .expect("run receiver");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("RECEIVER_PASSWORD"));

    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_receiver"));
    command
        .args(["--listen", "127.0.0.1:0", "--username", "nifi", "--store"])
        .arg(&store)
        .env("RECEIVER_PASSWORD", "pw-from-env")
        .stderr(Stdio::piped());
    let crate::receiver_binary::Announced {
        mut child,
        url,
        stdout: mut lines,
    } = crate::receiver_binary::spawn(command).await;
    let pid = child.id().expect("pid");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/contentListener"),
        "{url}"
    );
    let baseline_kib = peak_rss_kib(pid);

    let bundle_id = "large-bundle";
    let (file_sha, body_sha, body_len) = tokio::task::spawn_blocking(move || {
        let mut file_hasher = Sha256::new();
        let mut noise = Noise {
            state: 0x9E37_79B9_7F4A_7C15,
            left: SIZE,
        };
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = noise.read(&mut buf).expect("noise");
            if n == 0 {
                break;
            }
            file_hasher.update(&buf[..n]);
        }
        let file_sha = hex::encode(file_hasher.finalize());
        let mut sink = HashingSink {
            hasher: Sha256::new(),
            len: 0,
        };
        write_large_bundle(&mut sink, SIZE, &file_sha, bundle_id).expect("bundle");
        (file_sha, hex::encode(sink.hasher.finalize()), sink.len)
    })
    .await
    .expect("hashing task");
    assert!(body_len > SIZE);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(4);
    let producer = {
        let file_sha = file_sha.clone();
        std::thread::spawn(move || {
            let out = io::BufWriter::with_capacity(64 * 1024, ChannelWriter(tx));
            write_large_bundle(out, SIZE, &file_sha, bundle_id)
        })
    };
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let resp = reqwest::Client::new()
        .post(&url)
        .basic_auth("nifi", Some("pw-from-env"))
        .header("content-type", headers::BUNDLE_CONTENT_TYPE)
        .header(headers::CONTENT_SHA256, &body_sha)
        .header(headers::BUNDLE_ID, bundle_id)
        .header(headers::FILE_COUNT, "1")
        .header(headers::FILENAME, "large-bundle.tar.gz")
        .body(reqwest::Body::wrap_stream(stream))
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .expect("post large");
    producer
        .join()
        .expect("producer thread")
        .expect("producer wrote the bundle");
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);

    let on_disk =
        std::fs::metadata(store.join(format!("{bundle_id}.tar.gz"))).expect("stored bundle");
    assert_eq!(on_disk.len(), body_len);
    let records = receiver::read_stored_bundles(&store).expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].sha256, body_sha);
    assert_eq!(records[0].manifest.files[0].sha256, file_sha);

    let peak_kib = peak_rss_kib(pid);
    let grown_mib = peak_kib.saturating_sub(baseline_kib) / 1024;
    assert!(
        grown_mib < 25,
        "receiver peak memory grew by {grown_mib} MiB ({baseline_kib} -> {peak_kib} KiB) for a {} MiB body",
        body_len / 1024 / 1024
    );

    // SIGTERM ends it cleanly.
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert!(status.success(), "{status}");
    assert!(
        lines.next_line().await.expect("stdout").is_none(),
        "exactly one stdout line"
    );
    let mut logs = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().expect("stderr"), &mut logs)
        .await
        .expect("stderr");
    assert!(logs.contains("bundle stored"), "{logs}");
    assert!(
        !logs.contains("pw-from-env"),
        "the password must never be logged"
    );
}

/// As the dev environment runs it in Lambda: configured by environment variables, its Basic credentials
/// read from the endpoint secret the aggregator uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_its_credentials_from_the_endpoint_secret() {
    use std::process::Stdio;
    let moto = emulator::Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let sdk = test_support::moto::sdk_config(moto.endpoint()).await;
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("endpoint")
        .secret_string(r#"{"username":"nifi","password":"from-the-secret"}"#)
        .send()
        .await
        .expect("secret")
        .arn
        .expect("arn");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_receiver"));
    command
        .env("RECEIVER_LISTEN", "127.0.0.1:0")
        .env("RECEIVER_STORE", dir.path())
        .env("CREDENTIALS_SECRET_ID", &secret)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", "eu-west-2")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("RECEIVER_PASSWORD")
        .stderr(Stdio::inherit());
    let receiver = crate::receiver_binary::spawn(command).await;
    let url = receiver.url.clone();
    let stats = url.replace("/contentListener", "/_control/stats");
    let anonymous = client().get(&stats).send().await.expect("request");
    assert_eq!(anonymous.status(), 401);
    let wrong = client()
        .get(&stats)
        .basic_auth("nifi", Some("guess"))
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    let right = client()
        .get(&stats)
        .basic_auth("nifi", Some("from-the-secret"))
        .send()
        .await
        .expect("request");
    assert_eq!(right.status(), 200);
    drop(receiver);
}
