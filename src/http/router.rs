//! The route table: every endpoint of both seeds, in one place.

use tiny_http::{Method, Request};

use super::auth::{self, Group};
use super::query::Query;
use super::{handlers, license, service, upload, ApiError, App, HandlerResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Upload,
    Tasks,
    Task(&'a str),
    YaraId,
    SyncStatus,
    PullAll,
    Quota,
    QuotaCompany,
    LicenseInfo,
    LicenseStatus,
    MachineIdGenerate,
    LicenseUpload,
    SysInfo,
    Mode,
    Available,
    Stats,
}

/// Maps a path (without query) to a route. Trailing slashes do not matter: the license seed
/// writes `/api/license/v1/` and `/status/`, other clients drop them.
fn resolve(path: &str) -> Option<(Route<'_>, Group)> {
    let path = path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    use Group::*;
    use Route::*;
    let found = match segments.as_slice() {
        ["api", "tiscale", "v1", "upload"] => (Upload, Usage),
        ["api", "tiscale", "v1", "task"] => (Tasks, Usage),
        ["api", "tiscale", "v1", "task", id] => (Task(id), Usage),
        ["api", "tiscale", "v1", "yara"] => (YaraId, Usage),
        ["api", "tiscale", "v2", "sync-status"] => (SyncStatus, Usage),
        ["api", "tiscale", "v1", "pull", "all"] => (PullAll, Usage),
        ["api", "tiscale", "v1", "quota"] => (Quota, Usage),
        ["api", "tiscale", "v1", "quota", "company"] => (QuotaCompany, Usage),
        ["api", "license", "v1"] => (LicenseInfo, License),
        ["api", "license", "v1", "status"] => (LicenseStatus, License),
        ["api", "license", "v1", "machine-id", "generate"] => (MachineIdGenerate, License),
        ["api", "license", "v1", "upload"] => (LicenseUpload, License),
        ["srv", "tiscale", "v1", "sysinfo"] => (SysInfo, Service),
        ["srv", "tiscale", "v1", "mode"] => (Mode, Service),
        ["srv", "tiscale", "v1", "available"] => (Available, Service),
        ["srv", "tiscale", "v1", "stats"] => (Stats, Service),
        _ => return None,
    };
    Some(found)
}

fn allowed(route: Route<'_>) -> &'static [Method] {
    use Method::*;
    match route {
        Route::Upload | Route::PullAll | Route::MachineIdGenerate => &[Post],
        Route::Tasks | Route::Task(_) => &[Get, Delete],
        Route::Mode => &[Get, Put],
        Route::LicenseUpload => &[Put],
        _ => &[Get],
    }
}

/// A Hub's answer to the task endpoints (DECISIONS, "Hub").
const HUB_TASKS: &str =
    "analysis reports cannot be obtained from a Hub; use the task_url returned by the upload";
/// A Hub's answer to the YARA endpoints: the rules are the Workers'.
const HUB_YARA: &str = "a Hub has no YARA rules; ask the Workers";

/// Routes one request: 404 for an unknown path, then the group's token, then 405 for a method
/// the endpoint does not take.
pub fn dispatch(app: &App, req: &mut Request) -> HandlerResult {
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let (route, group) = resolve(path)
        .ok_or_else(|| ApiError::not_found(format!("no such endpoint: {}", super::shown(path))))?;
    auth::check(&app.config.tokens, group, req)?;
    let methods = allowed(route);
    // HEAD is GET without the body (tiny_http leaves the body out).
    let method = match req.method() {
        Method::Head if methods.contains(&Method::Get) => Method::Get,
        m => m.clone(),
    };
    if !methods.contains(&method) {
        let mut allow: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
        if methods.contains(&Method::Get) {
            allow.push("HEAD".into());
        }
        return Err(ApiError::new(
            405,
            format!(
                "method {} is not allowed on {}",
                req.method(),
                super::shown(path)
            ),
        )
        .with_header("Allow", allow.join(", ")));
    }
    let q = Query::parse(query);
    if app.hub.is_some() {
        match route {
            Route::Tasks | Route::Task(_) => return Err(ApiError::not_found(HUB_TASKS)),
            Route::YaraId | Route::SyncStatus | Route::PullAll => {
                return Err(ApiError::not_found(HUB_YARA))
            }
            _ => {}
        }
    }
    match (route, method) {
        (Route::Upload, _) => upload::upload(app, req),
        (Route::Tasks, Method::Get) => handlers::list_tasks(app, &q),
        (Route::Tasks, _) => handlers::delete_tasks(app, &q),
        (Route::Task(id), Method::Get) => handlers::get_task(app, id, &q),
        (Route::Task(id), _) => handlers::delete_task(app, id),
        (Route::YaraId, _) => handlers::yara_id(app),
        (Route::SyncStatus, _) => handlers::sync_status(app, &q),
        (Route::PullAll, _) => handlers::pull_all(app),
        (Route::Quota | Route::QuotaCompany, _) => handlers::quota(),
        (Route::LicenseInfo, _) => license::info(app),
        (Route::LicenseStatus, _) => license::status(app),
        (Route::MachineIdGenerate, _) => license::generate_machine_id(app),
        (Route::LicenseUpload, _) => license::upload(app, req),
        (Route::SysInfo, _) => service::sysinfo(app),
        (Route::Mode, Method::Get) => service::get_mode(app),
        (Route::Mode, _) => service::put_mode(app, req),
        (Route::Available, _) => service::available(app),
        (Route::Stats, _) => service::stats(app),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_path_resolves_to_its_group() {
        for (path, group) in [
            ("/api/tiscale/v1/upload", Group::Usage),
            ("/api/tiscale/v1/task", Group::Usage),
            ("/api/tiscale/v1/task/42", Group::Usage),
            ("/api/tiscale/v1/yara", Group::Usage),
            ("/api/tiscale/v2/sync-status", Group::Usage),
            ("/api/tiscale/v1/pull/all", Group::Usage),
            ("/api/tiscale/v1/quota/company", Group::Usage),
            ("/api/license/v1/", Group::License),
            ("/api/license/v1/status/", Group::License),
            ("/api/license/v1/machine-id/generate", Group::License),
            ("/api/license/v1/upload", Group::License),
            ("/srv/tiscale/v1/sysinfo", Group::Service),
            ("/srv/tiscale/v1/mode", Group::Service),
            ("/srv/tiscale/v1/available", Group::Service),
            ("/srv/tiscale/v1/stats", Group::Service),
        ] {
            assert_eq!(resolve(path).map(|r| r.1), Some(group), "{path}");
        }
        assert_eq!(
            resolve("/api/tiscale/v1/task/7").unwrap().0,
            Route::Task("7")
        );
        assert!(resolve("/api/tiscale/v1/nothing").is_none());
        assert!(resolve("/").is_none());
    }
}
