//! `/dashboard`: Strand's web dashboard, a small single-page app bundled into the binary
//! (`src/dashboard/`, no build step), served as s2-lite serves its own (API.md §14):
//! `/dashboard` and `/dashboard/` give the page (`no-cache`), `/dashboard/config.json` the
//! server's settings, `/dashboard/assets/<file>` the assets (cached an hour) or 404, and any
//! other `/dashboard/<path>` the page again (its client-side routes). The app calls the
//! `/v1` API on the same origin. `--no-dashboard` turns it off (404).

use crate::http::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};

const INDEX: &str = include_str!("../dashboard/index.html");
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../dashboard/assets/app.css"),
    ),
];

/// The answer for `path` (which starts with `/dashboard`), given the server's settings as
/// JSON; `None` when the path is not the dashboard's.
pub fn serve(path: &str, config_json: &'static str) -> Option<Response> {
    let rest = path.strip_prefix("/dashboard")?;
    let rest = match rest {
        "" => "",
        r => r.strip_prefix('/')?,
    };
    Some(match rest {
        "" => page(),
        "config.json" => with_cache(
            Response::with_body(StatusCode::OK, "application/json", Bytes::from(config_json)),
            "no-cache",
        ),
        r if r.starts_with("assets/") => match ASSETS
            .iter()
            .find(|(n, ..)| Some(*n) == r.strip_prefix("assets/"))
        {
            Some((_, content_type, body)) => with_cache(
                Response::with_body(
                    StatusCode::OK,
                    content_type,
                    Bytes::from_static(body.as_bytes()),
                ),
                "public, max-age=3600",
            ),
            None => Response::with_body(StatusCode::NOT_FOUND, "text/plain", Bytes::new()),
        },
        _ => page(),
    })
}

fn page() -> Response {
    with_cache(
        Response::with_body(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Bytes::from_static(INDEX.as_bytes()),
        ),
        "no-cache",
    )
}

fn with_cache(mut r: Response, value: &'static str) -> Response {
    r.headers
        .insert(http::header::CACHE_CONTROL, HeaderValue::from_static(value));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(path: &str) -> (u16, String) {
        let r = serve(path, "{}").expect("a dashboard path");
        let ct = r
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status.as_u16(), ct)
    }

    #[test]
    fn routes_as_s2_lite() {
        assert_eq!(status("/dashboard").0, 200);
        assert_eq!(
            status("/dashboard/"),
            (200, "text/html; charset=utf-8".into())
        );
        assert_eq!(status("/dashboard/basins/abc/streams/x").0, 200);
        assert_eq!(
            status("/dashboard/config.json"),
            (200, "application/json".into())
        );
        assert_eq!(
            status("/dashboard/assets/app.js").1,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(status("/dashboard/assets/missing.js").0, 404);
        assert!(serve("/dashboards", "{}").is_none());
        // The page's asset references all resolve.
        for (name, ..) in ASSETS {
            assert!(
                INDEX.contains(&format!("/dashboard/assets/{name}")),
                "{name}"
            );
        }
    }
}
