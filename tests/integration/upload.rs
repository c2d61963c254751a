//! Uploads: streaming, multipart edge cases, limits, custom_data/user_data, integrity check.

use std::time::Duration;

use crate::common::*;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn eicar_upload_is_answered_with_an_absolute_task_url_and_a_report() {
    let dir = TempDir::new("eicar");
    let s = Server::start(&dir, "");
    let r = s
        .req("POST", "/api/tiscale/v1/upload")
        .header("X-Forwarded-For", "203.0.113.7, 198.51.100.2")
        .multipart(&[
            Part::field(
                "custom_data",
                "{\"file_source\" : {\"uploader\" : \"malware_analyst\", \"origin\" : \"china\"}}",
            ),
            Part::file("file", "eicar.com", EICAR),
        ])
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let url = r.json()["task_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{}/api/tiscale/v1/task/", s.port)),
        "{url}"
    );
    let id = task_id(&r);
    let v = s.wait_processed(id, WAIT);
    assert_eq!(v["task_id"], id);
    assert!(v["processed"].as_i64().unwrap() >= v["submitted"].as_i64().unwrap());
    let entry = &v["tc_report"][0];
    assert_eq!(hash_of(entry, "sha1"), EICAR_SHA1);
    assert_eq!(hash_of(entry, "md5"), "44d88612fea8a8f36de82e1278abb02f");
    assert_eq!(
        hash_of(entry, "sha256"),
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    );
    assert_eq!(hash_of(entry, "sha512").len(), 128);
    assert_eq!(entry["info"]["file"]["file_name"], "eicar.com");
    assert_eq!(entry["info"]["file"]["size"], EICAR.len());
    assert!(
        entry["classification"]["scan_results"]
            .as_array()
            .unwrap()
            .len()
            == 1
    );
    assert_eq!(
        v["custom_data"],
        serde_json::json!({"file_source": {"uploader": "malware_analyst", "origin": "china"}})
    );
    assert_eq!(v["direct_sender"], "127.0.0.1");
    assert_eq!(
        v["forwarded_for"],
        serde_json::json!(["203.0.113.7", "198.51.100.2"])
    );
    assert!(!v["worker_hostname"].as_str().unwrap().is_empty());
    assert!(!v["worker_ip"].as_array().unwrap().is_empty());
    // The sample is deleted as soon as processing ends.
    wait_for_no_samples(&s.data_dir);
}

#[test]
fn public_url_is_used_for_task_urls() {
    let dir = TempDir::new("puburl");
    let s = Server::start(&dir, "public_url = \"https://worker01.example:8443/\"\n");
    let r = s.upload("a", b"a", &[]);
    let url = r.json()["task_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("https://worker01.example:8443/api/tiscale/v1/task/"),
        "{url}"
    );
}

#[test]
fn forwarded_proto_and_host_count_only_from_trusted_proxies() {
    let forwarded = |s: &Server| {
        let r = s
            .req("POST", "/api/tiscale/v1/upload")
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "assay.example:8443, inner.example")
            .multipart(&[Part::file("file", "a", b"a")])
            .send();
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["task_url"].as_str().unwrap().to_string()
    };
    // From a proxy listed in trusted_proxies (the client's own side first).
    let dir = TempDir::new("proxy-trusted");
    let s = Server::start(&dir, "trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\n");
    let url = forwarded(&s);
    assert!(
        url.starts_with("https://assay.example:8443/api/tiscale/v1/task/"),
        "{url}"
    );
    // From anyone else the headers are ignored: the Host header and the server's scheme.
    let dir = TempDir::new("proxy-untrusted");
    let s = Server::start(&dir, "trusted_proxies = [\"10.0.0.0/8\"]\n");
    let url = forwarded(&s);
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{}/api/tiscale/v1/task/", s.port)),
        "{url}"
    );
}

#[test]
fn multipart_edge_cases_keep_the_file_intact() {
    let dir = TempDir::new("edges");
    let s = Server::start(&dir, "");
    // A file that contains the boundary without a CRLF before it (what breaks the multipart crate),
    // near-miss delimiters, every byte value, and CR/LF runs.
    let mut tricky =
        format!("--{BOUNDARY}\r\nnot a part\n\r\n--{BOUNDARY}x\r\n\r\r\n").into_bytes();
    tricky.extend((0..=255u8).cycle().take(70_000));
    tricky.extend_from_slice(format!("--{BOUNDARY}--").as_bytes());
    for (name, data) in [("tricky.bin", tricky.clone()), ("empty", Vec::new())] {
        let r = s.upload(name, &data, &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = s.wait_processed(task_id(&r), WAIT);
        assert_eq!(
            hash_of(&v["tc_report"][0], "sha1"),
            sha1_hex(&data),
            "{name}"
        );
        assert_eq!(v["tc_report"][0]["info"]["file"]["size"], data.len());
    }
    // Odd file names, no Content-Type, fields after the file, unknown fields: all fine.
    let r = s
        .req("POST", "/api/tiscale/v1/upload")
        .multipart(&[
            Part::field("unknown", "ignored"),
            Part {
                headers: "Content-Disposition: form-data; name=\"file\"; filename=\"../../etc/p;a\\\"ss wd\"\r\n".into(),
                data: b"hello".to_vec(),
            },
            Part::field("user_data", "{\"network\": {\"src_ip\": \"10.1.10.42\"}}"),
        ])
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = s.wait_processed(task_id(&r), WAIT);
    assert_eq!(hash_of(&v["tc_report"][0], "sha1"), sha1_hex(b"hello"));
    // user_data is never echoed.
    assert!(!v.to_string().contains("10.1.10.42"));
    // Nothing the client named reached the file system.
    assert!(!dir.0.join("etc").exists());
}

#[test]
fn chunked_uploads_are_streamed() {
    let dir = TempDir::new("chunked");
    let s = Server::start(&dir, "");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let body = multipart_body(&[Part::file("file", "big.bin", &data)]);
    let r = s
        .req("POST", "/api/tiscale/v1/upload")
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary=\"{BOUNDARY}\""),
        )
        .chunked()
        .send_streaming(&mut &body[..]);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = s.wait_processed(task_id(&r), WAIT);
    assert_eq!(hash_of(&v["tc_report"][0], "sha1"), sha1_hex(&data));
}

#[test]
fn bad_uploads_get_a_4xx_with_a_message_and_leave_nothing_behind() {
    let dir = TempDir::new("bad");
    let s = Server::start(&dir, "[http]\nmax_upload_bytes = 1000\n");
    let up = |parts: &[Part]| {
        s.req("POST", "/api/tiscale/v1/upload")
            .multipart(parts)
            .send()
    };

    let r = up(&[Part::field("custom_data", "{}")]);
    assert_eq!(r.status, 400);
    assert!(r.message().contains("missing file part"), "{}", r.message());

    let r = s
        .req("POST", "/api/tiscale/v1/upload")
        .header("Content-Type", "application/json")
        .body(b"{}")
        .send();
    assert_eq!(r.status, 400);
    assert!(
        r.message().contains("multipart/form-data"),
        "{}",
        r.message()
    );

    // Over the limit, announced by Content-Length: refused before reading.
    let r = s
        .req("POST", "/api/tiscale/v1/upload")
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .send_generated(10 * 1024 * 1024, b"", b"", b'x');
    assert_eq!(r.status, 413);
    assert!(r.message().contains("1000 bytes"), "{}", r.message());

    // Over the limit in a chunked body: caught while streaming.
    let body = multipart_body(&[Part::file("file", "f", &[7u8; 5000])]);
    let r = s
        .req("POST", "/api/tiscale/v1/upload")
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .chunked()
        .send_streaming(&mut &body[..]);
    assert_eq!(r.status, 413, "{}", r.text());

    // Truncated body.
    let mut body = multipart_body(&[Part::file("file", "f", b"abc")]);
    body.truncate(body.len() - 10);
    let r = s
        .req("POST", "/api/tiscale/v1/upload")
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(&body)
        .send();
    assert_eq!(r.status, 400);
    assert!(r.message().contains("malformed upload"), "{}", r.message());

    // Exactly at the limit is fine.
    assert_eq!(s.upload("f", &[1u8; 1000], &[]).status, 200);

    let list = s.get("/api/tiscale/v1/task").json();
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only the good upload is a task: {list}"
    );
    let _ = s.wait_processed(list[0]["task_id"].as_i64().unwrap(), WAIT);
    wait_for_no_samples(&s.data_dir);
}

#[test]
fn custom_data_integrity_check_and_invalid_json() {
    let dir = TempDir::new("integrity");
    let s = Server::start(&dir, "");
    let wrong = "0000000000000000000000000000000000000000";
    let r = s.upload(
        "e",
        EICAR,
        &[(
            "custom_data",
            &format!("{{\"integrity_check_hash\": \"{wrong}\"}}"),
        )],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        format!(
            "ERROR: Upload: failed to accept upload integrity check failed, calculated hash {EICAR_SHA1} differs from the one passed in custom data {wrong}."
        )
    );
    assert_eq!(s.get("/api/tiscale/v1/task").json(), serde_json::json!([]));

    let good = format!(
        "{{\"integrity_check_hash\": \"{}\"}}",
        EICAR_SHA1.to_uppercase()
    );
    let r = s.upload("e", EICAR, &[("custom_data", &good)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = s.wait_processed(task_id(&r), WAIT);
    assert_eq!(
        v["custom_data"]["integrity_check_hash"],
        EICAR_SHA1.to_uppercase()
    );

    // Invalid JSON in custom_data is dropped silently; the upload succeeds.
    let r = s.upload("e", EICAR, &[("custom_data", "{not json")]);
    assert_eq!(r.status, 200);
    let v = s.wait_processed(task_id(&r), WAIT);
    assert!(v.get("custom_data").is_none(), "{v}");
}

#[test]
fn a_large_upload_is_streamed_with_flat_memory() {
    let dir = TempDir::new("large");
    let s = Server::start(&dir, "[analysis]\nthreads = 1\n");
    let before = vm_hwm_kib(s.pid());
    let len: u64 = 256 * 1024 * 1024;
    let prefix = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n"
    );
    let suffix = format!("\r\n--{BOUNDARY}--\r\n");
    let r = s
        .req("POST", "/api/tiscale/v1/upload")
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .send_generated(len, prefix.as_bytes(), suffix.as_bytes(), b'A');
    assert_eq!(r.status, 200, "{}", r.text());
    let v = s.wait_processed(task_id(&r), Duration::from_secs(120));
    assert_eq!(v["tc_report"][0]["info"]["file"]["size"], len);
    let grown_mib = (vm_hwm_kib(s.pid()) - before) / 1024;
    assert!(
        grown_mib < 48,
        "peak memory grew by {grown_mib} MiB for a 256 MiB upload"
    );
}
