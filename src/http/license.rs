//! The license API: information, status, machine id generation, license upload.

use tiny_http::Request;

use super::multipart::{self, MultipartError, PartHeaders, PartSink};
use super::{multipart_boundary, ApiError, App, HandlerResult, Reply};
use crate::license::{self, Applied, LicenseError};
use crate::time::now;

/// A license file is a small JSON document.
const MAX_LICENSE_BYTES: usize = 64 * 1024;

/// `GET /api/license/v1/`
pub fn info(app: &App) -> HandlerResult {
    Ok(Reply::json(&license::info(&app.store, now())?))
}

/// `GET /api/license/v1/status/`
pub fn status(app: &App) -> HandlerResult {
    let info = license::info(&app.store, now())?;
    Ok(Reply::json(&serde_json::json!({ "status": info.status })))
}

/// `POST /api/license/v1/machine-id/generate`
pub fn generate_machine_id(app: &App) -> HandlerResult {
    let id = license::regenerate_machine_id(&app.store)?;
    crate::log!("a new machine id was generated");
    Ok(Reply::json(&serde_json::json!({ "machineId": id })))
}

/// Collects the `file` part in memory, up to [`MAX_LICENSE_BYTES`].
#[derive(Default)]
struct LicenseSink {
    in_file: bool,
    file: Option<Vec<u8>>,
}

impl PartSink for LicenseSink {
    fn begin(&mut self, h: &PartHeaders) -> Result<(), MultipartError> {
        self.in_file = h.name == "file" && self.file.is_none();
        if self.in_file {
            self.file = Some(Vec::new());
        }
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> Result<(), MultipartError> {
        if let (true, Some(buf)) = (self.in_file, self.file.as_mut()) {
            if buf.len() + chunk.len() > MAX_LICENSE_BYTES {
                return Err(MultipartError::Rejected(format!(
                    "the license file is larger than {MAX_LICENSE_BYTES} bytes"
                )));
            }
            buf.extend_from_slice(chunk);
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), MultipartError> {
        self.in_file = false;
        Ok(())
    }
}

/// `PUT /api/license/v1/upload` (multipart, field `file`): 201 applied, 200 already applied, 400.
pub fn upload(app: &App, req: &mut Request) -> HandlerResult {
    let boundary = multipart_boundary(req)?;
    let mut sink = LicenseSink::default();
    multipart::parse(req.as_reader(), &boundary, &mut sink)
        .map_err(|e| ApiError::bad_request(format!("malformed upload: {e}")))?;
    let body = sink.file.ok_or_else(|| {
        ApiError::bad_request("missing file part: send the license as the field 'file'")
    })?;
    match license::apply(&app.store, &body, now()) {
        Ok(Applied::New) => {
            crate::log!("a license was applied");
            Ok(Reply::json_status(
                201,
                &serde_json::json!({ "message": "License is applied" }),
            ))
        }
        Ok(Applied::Already) => Ok(Reply::json(
            &serde_json::json!({ "message": "License is already applied" }),
        )),
        Err(LicenseError::Rejected(msg)) => Err(ApiError::bad_request(msg)),
        Err(LicenseError::Store(e)) => Err(e.into()),
    }
}
