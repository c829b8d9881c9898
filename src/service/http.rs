//! The HTTP side of `--metrics-listen`: /metrics (Prometheus text, or OpenMetrics when the
//! scraper asks for it) and /healthz (200 while the loop is alive, 503 once it is overdue).
//! Runs on the monitor's tokio runtime; a scrape serves the last page the encoder published
//! (shared bytes, no encoding), so it never waits on a cycle.

use super::metrics::Metrics;
use super::Liveness;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone)]
struct State {
    metrics: Metrics,
    live: Liveness,
}

/// Binds `addr` now (so a port in use is a start-up error) and serves in a task.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    live: Liveness,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .with_state(State { metrics, live });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(local)
}

async fn metrics_page(
    axum::extract::State(s): axum::extract::State<State>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let page = s.metrics.page();
    if wants_openmetrics {
        (
            [(header::CONTENT_TYPE, OPENMETRICS)],
            page.openmetrics.clone(),
        )
    } else {
        (
            [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
            page.prometheus_text.clone(),
        )
    }
}

async fn healthz(axum::extract::State(s): axum::extract::State<State>) -> impl IntoResponse {
    if s.live.alive() {
        (StatusCode::OK, "ok: the monitor loop is alive\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "stalled: no cycle progress within the expected time\n",
        )
    }
}
