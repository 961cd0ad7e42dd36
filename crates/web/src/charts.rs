//! Charts drawn on the server as inline SVG: no script, no chart CDN, readable with images off.
//!
//! Hand-written on purpose: the charts are a few rectangles, polylines and circles, and the
//! maintained Rust chart crates (plotters and friends) bring font rasterising, image backends
//! and a much larger dependency tree for output we would still have to make accessible
//! ourselves. Every chart is `role="img"` with a `<title>` and a `<desc>` holding the numbers,
//! and the page puts the same numbers in a data table next to it (the templates do that, so
//! their words can be translated).
//!
//! The templates pass the chart's words in (`{{ c.calls_svg("Calls per hour")|safe }}`): text
//! stays in the templates, numbers and shapes come from here. Everything interpolated is
//! escaped; numbers are formatted by Rust.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use domain::{
    activity::{ActivityEntry, DayTotals, HourStats},
    connections::ConnectionStatus,
};

/// The drawing area of every chart (scaled to the width of its container).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
/// Room for the axis labels.
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// Series colours, chosen for contrast on white and for colour-blind readers (blue, vermilion,
/// bluish green).
const COLOURS: [&str; 3] = ["#0060a8", "#c2410c", "#047857"];

/// Escapes text for SVG/HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A round upper bound for the axis (1, 2, 5 × 10ⁿ).
fn nice_max(max: u64) -> u64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if max <= m * step {
                return m * step;
            }
        }
        step = step.saturating_mul(10);
        if step == u64::MAX {
            return max;
        }
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "chart coordinates: counts far below 2^52"
)]
const fn as_f64(n: u64) -> f64 {
    n as f64
}

fn open_svg(out: &mut String, title: &str, desc: &str, id: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(desc),
    );
}

/// The value axis: a base line and the top value.
fn axis(out: &mut String, top: u64, unit: &str) {
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#6b7280"/><line x1="{LEFT}" y1="{TOP}" x2="{WIDTH}" y2="{TOP}" stroke="#e5e7eb"/><text x="{x}" y="{y}" font-size="11" text-anchor="end" fill="#374151">{top}{unit}</text><text x="{x}" y="{base}" font-size="11" text-anchor="end" fill="#374151">0</text>"##,
        x = LEFT - 4.0,
        y = TOP + 10.0,
        unit = escape(unit),
    );
}

/// Labels under every `every`-th slot.
fn slot_labels(out: &mut String, labels: &[String], every: usize) {
    let slot = (WIDTH - LEFT) / as_f64(labels.len().max(1) as u64);
    for (i, label) in labels.iter().enumerate() {
        if i % every.max(1) == 0 {
            let x = LEFT + slot * (as_f64(i as u64) + 0.5);
            let _ = write!(
                out,
                r##"<text x="{x:.1}" y="{}" font-size="11" text-anchor="middle" fill="#374151">{}</text>"##,
                HEIGHT - 6.0,
                escape(label)
            );
        }
    }
}

/// Grouped vertical bars: one group per label, one bar per series.
fn bars(id: &str, title: &str, labels: &[String], series: &[(&str, Vec<u64>)]) -> String {
    let top = nice_max(
        series
            .iter()
            .flat_map(|(_, values)| values.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1),
    );
    let desc = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let values: Vec<String> = series
                .iter()
                .map(|(name, values)| format!("{name} {}", values.get(i).copied().unwrap_or(0)))
                .collect();
            format!("{label}: {}", values.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut out = String::new();
    open_svg(&mut out, title, &desc, id);
    axis(&mut out, top, "");
    let slot = (WIDTH - LEFT) / as_f64(labels.len().max(1) as u64);
    let bar = (slot * 0.8) / as_f64(series.len().max(1) as u64);
    let span = HEIGHT - BOTTOM - TOP;
    for (i, _) in labels.iter().enumerate() {
        for (s, (name, values)) in series.iter().enumerate() {
            let value = values.get(i).copied().unwrap_or(0);
            let h = span * as_f64(value) / as_f64(top);
            let x = LEFT + slot * as_f64(i as u64) + slot * 0.1 + bar * as_f64(s as u64);
            let y = HEIGHT - BOTTOM - h;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{}"><title>{}: {} {value}</title></rect>"#,
                COLOURS[s % COLOURS.len()],
                escape(&labels[i]),
                escape(name),
            );
        }
    }
    slot_labels(&mut out, labels, labels.len().div_ceil(8));
    out.push_str("</svg>");
    out
}

/// Lines, one per series; gaps where a value is missing.
fn lines(
    id: &str,
    title: &str,
    labels: &[String],
    series: &[(&str, Vec<Option<u32>>)],
    unit: &str,
) -> String {
    let top = nice_max(
        series
            .iter()
            .flat_map(|(_, values)| values.iter().flatten().copied())
            .max()
            .map_or(1, u64::from)
            .max(1),
    );
    let desc = labels
        .iter()
        .enumerate()
        .filter_map(|(i, label)| {
            let values: Vec<String> = series
                .iter()
                .filter_map(|(name, values)| {
                    values
                        .get(i)
                        .copied()
                        .flatten()
                        .map(|v| format!("{name} {v}{unit}"))
                })
                .collect();
            (!values.is_empty()).then(|| format!("{label}: {}", values.join(", ")))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut out = String::new();
    open_svg(&mut out, title, &desc, id);
    axis(&mut out, top, unit);
    let slot = (WIDTH - LEFT) / as_f64(labels.len().max(1) as u64);
    let span = HEIGHT - BOTTOM - TOP;
    for (s, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[s % COLOURS.len()];
        let mut segment: Vec<String> = Vec::new();
        let flush = |segment: &mut Vec<String>, out: &mut String| {
            if segment.len() > 1 {
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                    segment.join(" ")
                );
            }
            segment.clear();
        };
        for (i, value) in values.iter().enumerate() {
            let x = LEFT + slot * (as_f64(i as u64) + 0.5);
            match value {
                Some(v) => {
                    let y = HEIGHT - BOTTOM - span * as_f64(u64::from(*v)) / as_f64(top);
                    segment.push(format!("{x:.1},{y:.1}"));
                    let _ = write!(
                        out,
                        r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"><title>{}: {} {v}{}</title></circle>"#,
                        escape(&labels[i]),
                        escape(name),
                        escape(unit),
                    );
                }
                None => flush(&mut segment, &mut out),
            }
        }
        flush(&mut segment, &mut out);
    }
    slot_labels(&mut out, labels, labels.len().div_ceil(8));
    out.push_str("</svg>");
    out
}

/// One hour of a connection's chart, as the page shows it.
#[derive(Debug, Clone)]
pub struct HourRow {
    /// `HH:00` (UTC).
    pub label: String,
    /// RFC 3339 start of the hour (for machines and tests).
    pub start: String,
    pub calls: u64,
    pub errors: u64,
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
}

/// A connection's last 24 hours: calls, errors and latency per hour.
#[derive(Debug, Clone, Default)]
pub struct HourlyCharts {
    pub hours: Vec<HourRow>,
}

impl HourlyCharts {
    #[must_use]
    pub fn new(stats: &[HourStats]) -> Self {
        Self {
            hours: stats
                .iter()
                .map(|h| HourRow {
                    label: h.hour.format("%H:00").to_string(),
                    start: h.hour.to_rfc3339(),
                    calls: h.calls,
                    errors: h.errors,
                    p50_ms: h.p50_ms,
                    p95_ms: h.p95_ms,
                })
                .collect(),
        }
    }

    fn labels(&self) -> Vec<String> {
        self.hours.iter().map(|h| h.label.clone()).collect()
    }

    #[must_use]
    pub fn total_calls(&self) -> u64 {
        self.hours.iter().map(|h| h.calls).sum()
    }

    /// Calls and errors per hour; `calls`/`errors` name the series.
    #[must_use]
    pub fn calls_svg(&self, title: &str, calls: &str, errors: &str) -> String {
        bars(
            "chart-calls-hourly",
            title,
            &self.labels(),
            &[
                (calls, self.hours.iter().map(|h| h.calls).collect()),
                (errors, self.hours.iter().map(|h| h.errors).collect()),
            ],
        )
    }

    /// Latency p50 and p95 per hour, in milliseconds.
    #[must_use]
    pub fn latency_svg(&self, title: &str) -> String {
        lines(
            "chart-latency-hourly",
            title,
            &self.labels(),
            &[
                ("p50", self.hours.iter().map(|h| h.p50_ms).collect()),
                ("p95", self.hours.iter().map(|h| h.p95_ms).collect()),
            ],
            &format!(" {}", crate::i18n::t("unit-ms")),
        )
    }
}

/// One day of the dashboard's chart.
#[derive(Debug, Clone)]
pub struct DayRow {
    /// `YYYY-MM-DD` (UTC).
    pub label: String,
    pub calls: u64,
    pub errors: u64,
    pub refreshes: u64,
}

/// One status of the dashboard's connections chart.
#[derive(Debug, Clone)]
pub struct StatusRow {
    pub status: &'static str,
    /// The status in the request's language.
    pub label: String,
    pub count: u64,
}

/// The dashboard's pictures: connections by status, and 14 days of activity.
#[derive(Debug, Clone, Default)]
pub struct DashboardCharts {
    pub statuses: Vec<StatusRow>,
    pub days: Vec<DayRow>,
}

impl DashboardCharts {
    #[must_use]
    pub fn new(counts: &[(String, u64)], days: &[DayTotals]) -> Self {
        Self {
            statuses: ConnectionStatus::ALL
                .iter()
                .map(|status| StatusRow {
                    status: status.as_str(),
                    label: crate::i18n::t(&format!("status-{}", status.as_str())),
                    count: counts
                        .iter()
                        .find(|(s, _)| s == status.as_str())
                        .map_or(0, |(_, n)| *n),
                })
                .collect(),
            days: days
                .iter()
                .map(|d| DayRow {
                    label: d.day.format("%Y-%m-%d").to_string(),
                    calls: d.proxy_calls,
                    errors: d.proxy_errors,
                    refreshes: d.refreshes,
                })
                .collect(),
        }
    }

    #[must_use]
    pub fn has_connections(&self) -> bool {
        self.statuses.iter().any(|s| s.count > 0)
    }

    /// Connections per status.
    #[must_use]
    pub fn statuses_svg(&self, title: &str, count: &str) -> String {
        let labels: Vec<String> = self.statuses.iter().map(|s| s.label.clone()).collect();
        bars(
            "chart-statuses",
            title,
            &labels,
            &[(count, self.statuses.iter().map(|s| s.count).collect())],
        )
    }

    /// Proxied calls, errors and refreshes per day.
    #[must_use]
    pub fn daily_svg(&self, title: &str, calls: &str, errors: &str, refreshes: &str) -> String {
        let labels: Vec<String> = self
            .days
            .iter()
            .map(|d| d.label.get(5..).unwrap_or(&d.label).to_owned())
            .collect();
        bars(
            "chart-daily",
            title,
            &labels,
            &[
                (calls, self.days.iter().map(|d| d.calls).collect()),
                (errors, self.days.iter().map(|d| d.errors).collect()),
                (refreshes, self.days.iter().map(|d| d.refreshes).collect()),
            ],
        )
    }
}

/// One point of a connection's event timeline.
#[derive(Debug, Clone)]
pub struct TimelinePoint {
    pub at: DateTime<Utc>,
    pub label: String,
    /// `ok`, `warn` or `bad`: the marker's colour.
    pub tone: &'static str,
}

/// A connection's history on a time axis, from its first event to now.
#[must_use]
pub fn timeline_svg(title: &str, points: &[TimelinePoint], now: DateTime<Utc>) -> String {
    let desc = points
        .iter()
        .map(|p| format!("{}: {}", crate::i18n::datetime(p.at), p.label))
        .collect::<Vec<_>>()
        .join("; ");
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="chart timeline" id="chart-timeline" viewBox="0 0 {WIDTH} 60" width="100%" role="img" aria-labelledby="chart-timeline-title chart-timeline-desc" xmlns="http://www.w3.org/2000/svg"><title id="chart-timeline-title">{}</title><desc id="chart-timeline-desc">{}</desc><line x1="10" y1="30" x2="{}" y2="30" stroke="#6b7280"/>"##,
        escape(title),
        escape(&desc),
        WIDTH - 10.0,
    );
    let first = points.iter().map(|p| p.at).min().unwrap_or(now);
    let span = (now - first).num_milliseconds().max(1);
    for p in points {
        let offset = (p.at - first).num_milliseconds().clamp(0, span);
        #[expect(clippy::cast_precision_loss, reason = "chart coordinates")]
        let x = 10.0 + (WIDTH - 20.0) * (offset as f64) / (span as f64);
        let colour = match p.tone {
            "bad" => COLOURS[1],
            "warn" => "#a16207",
            _ => COLOURS[2],
        };
        let _ = write!(
            out,
            r#"<circle cx="{x:.1}" cy="30" r="6" fill="{colour}"><title>{} — {}</title></circle>"#,
            escape(&crate::i18n::datetime(p.at)),
            escape(&p.label),
        );
    }
    out.push_str("</svg>");
    out
}

/// One row of the activity list on a connection's page.
#[derive(Debug, Clone)]
pub struct ActivityRow {
    pub at: String,
    pub kind: String,
    pub what: String,
    pub status: String,
    pub outcome: String,
    pub latency: String,
    pub bytes: String,
}

impl From<&ActivityEntry> for ActivityRow {
    fn from(e: &ActivityEntry) -> Self {
        let what = match (&e.method, &e.path) {
            (Some(method), Some(path)) => format!("{method} {path}"),
            (None, Some(path)) => path.clone(),
            _ => String::new(),
        };
        let bytes = match (e.request_bytes, e.response_bytes) {
            (Some(up), Some(down)) => format!("{up} / {down}"),
            (Some(up), None) => up.to_string(),
            (None, Some(down)) => down.to_string(),
            (None, None) => String::new(),
        };
        Self {
            at: crate::i18n::datetime(e.at),
            kind: e.kind.clone(),
            what,
            status: e.status.map(|s| s.to_string()).unwrap_or_default(),
            outcome: e.outcome.clone(),
            latency: e.latency_ms.map(|l| l.to_string()).unwrap_or_default(),
            bytes,
        }
    }
}

/// The activity part of a connection's page: charts, timeline and the filtered list.
#[derive(Debug, Clone, Default)]
pub struct ConnectionActivity {
    pub hourly: HourlyCharts,
    pub timeline: Vec<TimelinePoint>,
    pub now: DateTime<Utc>,
    pub rows: Vec<ActivityRow>,
    /// The link to the next (older) page, or empty.
    pub next: String,
    /// The filters as given, to fill the form again.
    pub kind: String,
    pub status: String,
    pub from: String,
    pub to: String,
}

impl ConnectionActivity {
    /// The kinds the filter offers.
    #[must_use]
    pub fn kinds(&self) -> Vec<&'static str> {
        domain::activity::ActivityKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect()
    }

    /// The status classes the filter offers.
    #[must_use]
    pub fn classes(&self) -> Vec<&'static str> {
        domain::activity::StatusClass::ALL
            .iter()
            .map(|c| c.as_str())
            .collect()
    }

    /// Whether the filter form has this kind chosen.
    #[must_use]
    pub fn kind_is(&self, kind: &str) -> bool {
        self.kind == kind
    }

    /// Whether the filter form has this status class chosen.
    #[must_use]
    pub fn status_is(&self, class: &str) -> bool {
        self.status == class
    }

    #[must_use]
    pub fn timeline_svg(&self, title: &str) -> String {
        timeline_svg(title, &self.timeline, self.now)
    }

    #[must_use]
    pub fn filtered(&self) -> bool {
        !(self.kind.is_empty()
            && self.status.is_empty()
            && self.from.is_empty()
            && self.to.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up() {
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(120), 200);
    }

    #[test]
    fn charts_are_accessible_and_escaped() {
        let svg = bars(
            "x",
            "Calls <per> hour",
            &["10:00".into(), "11:00".into()],
            &[("calls", vec![3, 0])],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"x-title\">Calls &lt;per&gt; hour</title>"));
        assert!(svg.contains("10:00: calls 3; 11:00: calls 0"));
        assert!(svg.ends_with("</svg>"));
        let latency = lines(
            "y",
            "Latency",
            &["a".into(), "b".into(), "c".into()],
            &[("p50", vec![Some(5), None, Some(9)])],
            " ms",
        );
        assert!(latency.contains("a: p50 5 ms; c: p50 9 ms"), "{latency}");
    }
}
