//! Lenient reading of "number of seconds" fields, which arrive as integers, floats or numeric strings.
//!
//! Both `expires_in` and `retry_after` are server-controlled; whatever they hold, we must end up with
//! a sane [`Duration`] and never panic (`Duration::from_secs_f64` panics on negative, NaN or huge input).

use std::time::Duration;

use serde_json::Value;

/// Reads a finite number of seconds from a JSON number or numeric string (`86400`, `86400.5`, `"86400"`).
pub(crate) fn from_json(value: &Value) -> Option<f64> {
    let seconds = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    seconds.is_finite().then_some(seconds)
}

/// Clamps `seconds` into `[min, max]`, dropping any fraction. Never panics, whatever the input.
pub(crate) fn clamp(seconds: f64, min: Duration, max: Duration) -> Duration {
    if seconds.is_nan() || seconds <= min.as_secs_f64() {
        min
    } else if seconds >= max.as_secs_f64() {
        max
    } else {
        Duration::from_secs(seconds.trunc() as u64)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_numbers_and_numeric_strings() {
        let cases = [
            (json!(86400), Some(86400.0)),
            (json!(-5), Some(-5.0)),
            (json!(86400.5), Some(86400.5)),
            (json!("86400"), Some(86400.0)),
            (json!(" 300 "), Some(300.0)),
            (json!(u64::MAX), Some(u64::MAX as f64)),
            (json!("NaN"), None),
            (json!("inf"), None),
            (json!("soon"), None),
            (json!(null), None),
            (json!(true), None),
            (json!([1]), None),
        ];
        for (value, expected) in cases {
            assert_eq!(from_json(&value), expected, "{value}");
        }
    }

    #[test]
    fn clamps_into_range_without_panicking() {
        let min = Duration::from_secs(60);
        let max = Duration::from_secs(7 * 86_400);
        let cases = [
            (-5.0, min),
            (0.0, min),
            (59.9, min),
            (60.0, min),
            (86_400.5, Duration::from_secs(86_400)),
            (1e12, max),
            (f64::MAX, max),
            (f64::INFINITY, max),
            (f64::NEG_INFINITY, min),
            (f64::NAN, min),
        ];
        for (seconds, expected) in cases {
            assert_eq!(clamp(seconds, min, max), expected, "{seconds}");
        }
    }
}
