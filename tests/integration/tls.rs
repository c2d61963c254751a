//! HTTPS served natively ([tls]), and a Hub forwarding to an HTTPS Worker it checks.

use std::time::Duration;

use crate::common::*;

#[test]
fn an_https_worker_gives_https_task_urls_and_its_watchdog_probes_it() {
    let ca = TestCa::new();
    let dir = TempDir::new("tls");
    let sock_path = dir.0.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let s = Server::start_tls_with_env(
        &dir,
        "",
        &ca,
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1500000"),
        ],
    );
    let r = s.upload("eicar.com", EICAR, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let url = r.json()["task_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!(
            "https://127.0.0.1:{}/api/tiscale/v1/task/",
            s.port
        )),
        "{url}"
    );
    let v = s.wait_processed(task_id(&r), Duration::from_secs(60));
    assert_eq!(v["tc_report"][0]["classification"]["classification"], 3);

    // A client speaking plain HTTP to the HTTPS port gets no HTTP answer, and the server goes on.
    {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /srv/tiscale/v1/available HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        assert!(
            !got.starts_with(b"HTTP/"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }
    assert_eq!(s.get("/srv/tiscale/v1/available").status, 200);

    // systemd's watchdog hears from it: its probe speaks TLS to the server's own certificate.
    let mut beats = 0;
    let mut buf = [0u8; 64];
    while beats < 2 {
        let n = sock.recv(&mut buf).expect("a notification within 30 s");
        if &buf[..n] == b"WATCHDOG=1" {
            beats += 1;
        }
    }
    assert!(!s.log().contains("does not answer"), "{}", s.log());
}

#[test]
fn a_bad_certificate_or_key_stops_start_up_naming_the_file() {
    let ca = TestCa::new();
    let other = TestCa::new();
    let dir = TempDir::new("tls-bad");
    let (_, cert, key) = ca.write(&dir.0);
    let junk = dir.0.join("junk.pem");
    std::fs::write(&junk, "not a PEM file\n").unwrap();
    let other_key = dir.0.join("other-key.pem");
    std::fs::write(&other_key, &other.key_pem).unwrap();
    for (cert_file, key_file, said) in [
        (
            &junk,
            &key,
            vec![junk.display().to_string(), "tls.cert_file".into()],
        ),
        (
            &cert,
            &junk,
            vec![junk.display().to_string(), "tls.key_file".into()],
        ),
        (
            &cert,
            &other_key,
            vec![
                cert.display().to_string(),
                other_key.display().to_string(),
                "do not go together".into(),
            ],
        ),
    ] {
        let config = dir.0.join("assay.toml");
        std::fs::write(
            &config,
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                cert_file.display(),
                key_file.display()
            ),
        )
        .unwrap();
        let out = std::process::Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.0.join("data"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        for s in &said {
            assert!(err.contains(s.as_str()), "{s}: {err}");
        }
    }
}

#[test]
fn a_hub_forwards_to_an_https_worker_whose_certificate_it_checks() {
    let ca = TestCa::new();
    let wdir = TempDir::new("tls-worker");
    let worker = Server::start_tls(&wdir, "", &ca);
    let forward_to = |dir: &TempDir, ca_file: Option<&std::path::Path>| {
        let ca_line = ca_file.map_or(String::new(), |p| {
            format!("ca_file = \"{}\"\n", p.display())
        });
        Server::start(
            dir,
            &format!(
                "[hub]\npoll_secs = 1\n{ca_line}[[hub.workers]]\nurl = \"https://127.0.0.1:{}\"\n",
                worker.port
            ),
        )
    };
    // With the private CA: the upload goes through, task_url on the Worker in https.
    let hdir = TempDir::new("tls-hub");
    let (ca_path, _, _) = ca.write(&hdir.0);
    let hub = forward_to(&hdir, Some(&ca_path));
    let r = hub.upload("eicar.com", EICAR, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let url = r.json()["task_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("https://127.0.0.1:{}/", worker.port)),
        "{url}"
    );
    worker.wait_processed(task_id(&r), Duration::from_secs(60));
    // Without it, the Worker's certificate is not trusted: nothing is sent.
    let hdir2 = TempDir::new("tls-hub-noca");
    let hub = forward_to(&hdir2, None);
    let r = hub.upload("eicar.com", EICAR, &[]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.message(), "no worker available");
    // The log reaches the test through a pipe: wait for the line rather than race it.
    hub.wait_log("is unavailable");
    assert_eq!(
        worker
            .get("/api/tiscale/v1/task")
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
