//! assay: a file analysis server that speaks the Spectra Detect Worker (TitaniumScale) HTTP API.
//!
//! Start-up order: args -> Config -> Store -> recovery -> queue and analysis pool -> HTTP threads
//! -> READY=1 -> wait for SIGTERM -> ordered shutdown (stop HTTP, drain or return analyses, flush).

use assay::{
    analysis, config, host, http, hub, integrations, log, queue, scan, stats, store, systemd, time,
};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use config::{Config, Overrides};
use queue::{housekeeper, Queue, WorkerContext};

const USAGE: &str = "\
usage: assay serve [--config FILE] [--listen ADDR] [--data-dir DIR] [--new-store]
       assay scan [--config FILE] [--pretty] [-j N] PATH...
       assay digest FILE...
       assay resolve HOST...
       assay --version

  serve       run the server (embedded defaults: listen 127.0.0.1:8080, data in ./assay-data)
  scan        analyse files and directories offline; one JSON report per line on stdout;
              exit 0 clean, 1 suspicious or malicious found, 2 a file could not be read
  --pretty    indent the JSON
  -j, --jobs  analysis threads for scan (default: the machine's cores); lines stay in walk order
  digest      print md5, sha1 and sha256 of each file (one pass), like md5sum
  resolve     print the addresses the deliveries would connect to for each host name
  --config    TOML configuration file (see README.md for every key)
  --listen    address to listen on, overrides `listen` (port 0 picks a free port)
  --data-dir  data directory, overrides `data_dir`
  --new-store start with an empty database where one is missing or empty in a data directory
              that was used before (refused otherwise); task ids continue after the last one";

/// How long shutdown waits for requests in progress, then for running analyses.
const HTTP_GRACE: Duration = Duration::from_secs(3);
const ANALYSIS_GRACE: Duration = Duration::from_secs(5);
const DELIVERY_GRACE: Duration = Duration::from_secs(2);

struct ServeArgs {
    config: Option<PathBuf>,
    overrides: Overrides,
    new_store: bool,
}

fn parse_args(args: &[String]) -> anyhow::Result<Option<ServeArgs>> {
    match args.first().map(String::as_str) {
        Some("serve") => {}
        Some("scan") => {
            let code = scan_command(&args[1..])?;
            std::process::exit(code);
        }
        Some("digest") => {
            let code = digest_command(&args[1..]);
            std::process::exit(code);
        }
        Some("resolve") => {
            let code = resolve_command(&args[1..]);
            std::process::exit(code);
        }
        Some("--version" | "-V" | "version") => {
            println!("assay {}", env!("CARGO_PKG_VERSION"));
            return Ok(None);
        }
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            return Ok(None);
        }
        Some(other) => bail!("unknown command {other:?}\n{USAGE}"),
        None => bail!("{USAGE}"),
    }
    let mut out = ServeArgs {
        config: None,
        overrides: Overrides::default(),
        new_store: false,
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--config" => out.config = Some(PathBuf::from(value()?)),
            "--listen" => out.overrides.listen = Some(value()?),
            "--data-dir" => out.overrides.data_dir = Some(PathBuf::from(value()?)),
            "--new-store" => out.new_store = true,
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(out))
}

/// `assay resolve`: each host name and the addresses the deliveries would connect to (the
/// Worker's own resolver, as the static binary uses it); exit 2 if a name does not resolve.
fn resolve_command(hosts: &[String]) -> i32 {
    let system = integrations::resolve::System::read();
    let mut code = 0;
    for host in hosts {
        match system.resolve(host, 0) {
            Ok(addrs) => {
                let ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                println!("{host} {}", ips.join(" "));
            }
            Err(e) => {
                eprintln!("assay: {e}");
                code = 2;
            }
        }
    }
    code
}

/// `assay digest`: `md5 sha1 sha256  path` per file; exit 2 if a file could not be read.
fn digest_command(paths: &[String]) -> i32 {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut code = 0;
    for path in paths {
        let result =
            std::fs::File::open(path).and_then(|mut f| analysis::hashes::md5_sha1_sha256(&mut f));
        match result {
            Ok([md5, sha1, sha256]) => {
                let _ = writeln!(out, "{md5} {sha1} {sha256}  {path}");
            }
            Err(e) => {
                eprintln!("assay: {path}: {e}");
                code = 2;
            }
        }
    }
    let _ = out.flush();
    if paths.is_empty() {
        eprintln!("assay: digest needs at least one file\n{USAGE}");
        code = 2;
    }
    code
}

/// `assay scan`: returns the exit code.
fn scan_command(args: &[String]) -> anyhow::Result<i32> {
    let mut config = None;
    let mut pretty = false;
    let mut jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut paths = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--config" => {
                config =
                    Some(PathBuf::from(it.next().with_context(|| {
                        format!("--config needs a value\n{USAGE}")
                    })?))
            }
            "--pretty" => pretty = true,
            "-j" | "--jobs" => {
                let n = it
                    .next()
                    .with_context(|| format!("{arg} needs a value\n{USAGE}"))?;
                jobs = match n.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => bail!("{arg} needs a number of threads above 0, not {n:?}\n{USAGE}"),
                };
            }
            "--" => paths.extend(it.by_ref().map(PathBuf::from)),
            flag if flag.starts_with("--") => bail!("unknown option {flag:?}\n{USAGE}"),
            path => paths.push(PathBuf::from(path)),
        }
    }
    if paths.is_empty() {
        bail!("scan needs at least one path\n{USAGE}");
    }
    let engine = Config::load_engine(config.as_deref())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let outcome = scan::run(&paths, &engine, jobs, pretty, &mut out)?;
    std::io::Write::flush(&mut out)?;
    Ok(outcome.exit_code())
}

fn main() {
    tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&args).and_then(|a| match a {
        Some(a) => serve(a),
        None => Ok(()),
    });
    if let Err(e) = result {
        eprintln!("assay: {e:#}");
        std::process::exit(2);
    }
}

/// Makes glibc give a new block of 1 MiB or more (a decoded member, a report, a document) its
/// own mapping, returned to the system when it is freed, unless a freed region of its arena
/// already fits it. By default glibc raises that threshold after each large free, up to 32 MiB,
/// and blocks below it come from the arenas, where growing one copies it (old and new both
/// resident meanwhile) and freeing it may keep its pages. On the bench tree the server's peak
/// RSS was 278-309 MiB with the moving threshold and 267 with this, at the same CPU; `assay scan
/// -j 2` of its wheels, crates and ClamAV files 237 against 208 MiB (CPU ratio 0.99).
///
/// And lets an arena keep up to 2 MiB free at its top before giving it back: a fixed mapping
/// threshold leaves that at 128 KiB, under what one small file's analysis and its report's
/// commit allocate and free, so the analysis threads gave their heap's top back to the system
/// (`madvise`) and faulted it in again for every file: a tenth of a 4 KiB upload's analysis
/// (`perf` under `scripts/bench-accept.sh`). A large task's memory is still given back after it
/// (`host::release_freed_memory`). musl has neither threshold.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets one of the allocator's parameters; it is called before any other
    // thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * 1024 * 1024);
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref(), &args.overrides)?;
    for line in config.to_string().lines() {
        log!("config: {line}");
    }
    for warning in config.tokens.warnings() {
        log!("{warning}");
    }
    match host::raise_open_files_limit() {
        Ok(limit) if limit < (config.http.max_connections as u64) * 3 + 256 => log!(
            "WARNING: the open files limit ({limit}) is too low for http.max_connections = {}: \
             raise LimitNOFILE or lower http.max_connections",
            config.http.max_connections
        ),
        Ok(_) => {}
        Err(e) => log!("cannot read the open files limit: {e}"),
    }
    let spool_dir = config.spool_dir();
    std::fs::create_dir_all(&spool_dir)
        .with_context(|| format!("cannot create the spool directory {}", spool_dir.display()))?;
    let spill_dir = config.spill_dir();
    // Spill files are unlinked as soon as they are made; one is left only by a crash in between.
    let _ = std::fs::remove_dir_all(&spill_dir);
    std::fs::create_dir_all(&spill_dir)
        .with_context(|| format!("cannot create {}", spill_dir.display()))?;
    // What shows the data directory was used before, should its database go missing.
    let traces: Vec<PathBuf> = std::iter::once(spool_dir.clone())
        .chain(config.yara.cache_dir.clone())
        .collect();
    let store = Arc::new(
        store::Store::open_kept(
            &config.db_path(),
            &config.data_dir.join("last-task-id"),
            &traces,
            args.new_store,
        )
        .with_context(|| format!("cannot open the database {}", config.db_path().display()))?,
    );

    // Bind before anything slow so that a taken port fails at once.
    let server = http::bind(&config)?;
    if let Some(addr) = server.server_addr().to_ip() {
        config.listen = addr;
    }

    // The rules compile before any analysis starts, so that no task is scanned without them.
    // A Hub analyses nothing: it loads no rules.
    let yara_options = match &config.hub {
        None => config.yara.clone(),
        Some(_) => analysis::yara::Options {
            rules_dir: None,
            sync: false,
            ..config.yara.clone()
        },
    };
    let yara = Arc::new(analysis::yara::Rulesets::load(yara_options));
    let yara_watch = {
        let yara = yara.clone();
        std::thread::Builder::new()
            .name("yara".into())
            .spawn(move || yara.watch())?
    };

    let stats = Arc::new(stats::Stats::default());
    let ctx = Arc::new(WorkerContext {
        store: store.clone(),
        stats: stats.clone(),
        spool_dir: spool_dir.clone(),
        engine: match config.unpacked_dir() {
            Some(dir) => {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                config
                    .engine()
                    .with_yara(yara.clone())
                    .packing_reports()
                    .keeping_children(dir)
            }
            None => config.engine().with_yara(yara.clone()).packing_reports(),
        },
        deliveries: {
            let targets = integrations::Targets::new(&config);
            Box::new(move |user_data| targets.of(user_data))
        },
    });
    // Cancel what waited past the queue timeout while we were down, then recover the rest.
    housekeeper::maintain(&ctx, &config, time::now());
    let recovered = recover(&ctx)?;

    let (queue, rx) = Queue::new(config.analysis.queue_capacity);
    let analysis_threads = match &config.hub {
        None => config.analysis.threads,
        Some(_) => 0,
    };
    let pool = queue::start_pool(ctx.clone(), rx, queue.clone(), analysis_threads);
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (queue, stop) = (queue.clone(), stop.clone());
        std::thread::Builder::new()
            .name("recovery".into())
            .spawn(move || {
                for id in recovered {
                    if !queue.push_wait(id, &stop) {
                        break;
                    }
                }
            })?
    };
    let keeper = {
        let (ctx, config, stop) = (ctx.clone(), config.clone(), stop.clone());
        std::thread::Builder::new()
            .name("housekeeper".into())
            .spawn(move || housekeeper::run(ctx, config, stop))?
    };

    let worker = host::WorkerInfo::here();
    let deliveries =
        integrations::Context::new(&config, store.clone(), stats.clone(), worker.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .map(integrations::start);
    let hub = match &config.hub {
        None => None,
        Some(h) => {
            let hub = Arc::new(hub::Hub::new(h).map_err(|e| anyhow::anyhow!("[hub]: {e}"))?);
            log!(
                "hub: uploads are forwarded to {} Worker(s), nothing is analysed here",
                h.workers.len()
            );
            Some(hub)
        }
    };
    let polls = hub.as_ref().map(hub::Hub::start_polls).unwrap_or_default();
    let app = Arc::new(
        http::App::new(
            config.clone(),
            store.clone(),
            stats.clone(),
            queue,
            worker,
            yara.clone(),
            hub.clone(),
        )?
        .with_analysis_cache(ctx.engine.cache.clone()),
    );
    let http = http::start(server, app.clone());

    let term = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, term.clone())
            .context("cannot install the signal handler")?;
    }
    log!("listening on {}://{}", config.scheme(), config.listen);
    systemd::notify("READY=1");
    let probe = http::Probe::new(&config).map_err(|e| anyhow::anyhow!("[tls]: {e}"))?;
    let watchdog = systemd::watchdog_interval().map(|interval| {
        let (app, term, addr) = (app.clone(), term.clone(), config.listen);
        log!("systemd watchdog: every {} ms", interval.as_millis());
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || watchdog(&app, &probe, addr, interval, &term))
    });

    while !term.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }

    log!("shutting down");
    systemd::notify("STOPPING=1");
    if let Some(Ok(w)) = watchdog {
        let _ = w.join();
    }
    http.shutdown(HTTP_GRACE);
    stop.store(true, Ordering::SeqCst);
    pool.shutdown(&store, ANALYSIS_GRACE);
    if let Some(d) = deliveries {
        d.shutdown(DELIVERY_GRACE);
    }
    if let Some(hub) = &hub {
        hub.stop();
    }
    for p in polls {
        let _ = p.join();
    }
    let _ = feeder.join();
    let _ = keeper.join();
    yara.stop();
    let _ = yara_watch.join();
    log!("stopped");
    Ok(())
}

/// Tells systemd the server is alive three times per `interval` while its HTTP front end
/// serves ([`http::serving`]), until `term` is set. When it does not, systemd restarts it.
fn watchdog(
    app: &http::App,
    probe: &http::Probe,
    addr: std::net::SocketAddr,
    interval: Duration,
    term: &AtomicBool,
) {
    let every = interval / 3;
    let mut beats = 0;
    let mut next = std::time::Instant::now();
    while !term.load(Ordering::SeqCst) {
        if std::time::Instant::now() >= next {
            next += every;
            if http::serving(app, probe, addr, every, &mut beats) {
                systemd::notify("WATCHDOG=1");
            } else {
                log!(
                    "watchdog: the HTTP front end does not answer; systemd will restart the Worker"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Start-up recovery: tasks left processing go back to the queue (or fail after too many tries),
/// spool files no task owns are removed. Returns the queued task ids, oldest first.
fn recover(ctx: &WorkerContext) -> anyhow::Result<Vec<i64>> {
    let t = time::now();
    let rec = ctx.store.recover(queue::MAX_ATTEMPTS, t)?;
    for (id, sample, file_name) in &rec.given_up {
        let reason = format!(
            "analysis was interrupted {} times; giving up on this file",
            queue::MAX_ATTEMPTS
        );
        if let Some(sample) = sample {
            let report = queue::with_sample(&ctx.spool_dir, sample, |data| {
                analysis::failure_report(data, file_name, &reason)
            });
            ctx.store.set_report(*id, &report.into_packed())?;
            if let Some(f) = sample.spool_file() {
                queue::remove_sample(&ctx.spool_dir.join(f));
            }
        }
        log!("task {id} failed: {reason}");
    }
    let live = ctx.store.live_spool_files()?;
    let mut orphans = 0;
    for entry in std::fs::read_dir(&ctx.spool_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !live.contains(&name) {
            queue::remove_sample(&entry.path());
            orphans += 1;
        }
    }
    log!(
        "recovery: {} task(s) queued, {} returned from processing, {} given up, {} orphaned spool file(s) removed",
        rec.queued.len(),
        rec.requeued,
        rec.given_up.len(),
        orphans
    );
    Ok(rec.queued)
}
