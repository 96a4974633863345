//! The portal link as a QR code, drawn as SVG by the pure-Rust `qrcode` crate.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::error::{Error, Result};

/// An SVG element (no XML declaration, so it can sit inside an HTML page) of a QR code
/// holding `text`, at least `min_px` wide, with its quiet zone, labelled for screen
/// readers by `label` (already escaped for HTML).
pub fn svg(text: &str, min_px: u32, label_escaped: &str) -> Result<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| Error::invalid(format!("the link cannot be drawn as a QR code: {e}")))?;
    let drawn = code
        .render::<svg::Color<'_>>()
        .min_dimensions(min_px, min_px)
        .quiet_zone(true)
        .build();
    let element = match drawn.find("<svg") {
        Some(start) => &drawn[start..],
        None => drawn.as_str(),
    };
    Ok(element.replacen(
        "<svg ",
        &format!(r#"<svg role="img" aria-label="{label_escaped}" "#),
        1,
    ))
}
