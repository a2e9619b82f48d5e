//! watermark: lightens a striped band along the bottom of an image and records the stamp's text
//! in a PNG `tEXt` chunk (keyword `Comment`). Its route is private (`/stamp`, `private = true`):
//! only a chained call from another component of the app reaches it; from outside, /stamp is 404.
//!
//!   POST http://watermark.verge.internal/stamp   x-watermark-text: TEXT, body: PNG or JPEG → 200 image/png

use composed_services::imaging::{decode, dimensions, sniff};
use composed_services::{error, serve};
use image::RgbaImage;
use verge_sdk::http::{Request, Response};

/// Pixels decoded at most (RGBA: 16 MiB), checked from the header before any pixel is decoded.
const MAX_PIXELS: u64 = 4_000_000;
/// The stamp's text: printable ASCII (a PNG tEXt chunk is Latin-1), this long at most.
const MAX_TEXT_CHARS: usize = 256;
/// The band is this fraction of the height (at least one row).
const BAND_DIVISOR: u32 = 8;
const TEXT_KEYWORD: &str = "Comment";

fn handle(req: &Request) -> Response {
    if req.method() != "POST" {
        return error(405, "METHOD_NOT_ALLOWED", "/stamp takes POST").header("allow", "POST");
    }
    let text = match req.header("x-watermark-text") {
        Some(t) if !t.is_empty() && t.len() <= MAX_TEXT_CHARS && t.bytes().all(|b| (0x20..0x7f).contains(&b)) => t.to_string(),
        _ => return error(400, "BAD_REQUEST", &format!("x-watermark-text must be 1 to {} printable ASCII characters", MAX_TEXT_CHARS)),
    };
    let format = match sniff(req.body()) {
        Some(f) => f,
        None => return error(415, "UNSUPPORTED_MEDIA_TYPE", "expected a PNG or JPEG body"),
    };
    let (width, height) = match dimensions(req.body(), format) {
        Ok(d) => d,
        Err(e) => return error(422, "UNDECODABLE_IMAGE", &e),
    };
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return error(422, "TOO_MANY_PIXELS", &format!("{}x{} is more than {} pixels", width, height, MAX_PIXELS));
    }
    let mut img = match decode(req.body(), format, None) {
        Ok(img) => img.to_rgba8(),
        Err(e) => return error(422, "UNDECODABLE_IMAGE", &e),
    };
    stamp(&mut img);
    match encode_png(&img, &text) {
        Ok(png) => Response::new(200).header("content-type", "image/png").body(png),
        Err(e) => error(500, "ENCODE_FAILED", &e),
    }
}

/// Lightens the bottom band toward white, in diagonal stripes of half and a quarter.
fn stamp(img: &mut RgbaImage) {
    let (width, height) = img.dimensions();
    let band = (height / BAND_DIVISOR).max(1);
    for y in height - band..height {
        for x in 0..width {
            let pixel = img.get_pixel_mut(x, y);
            let shift = if ((x + y) / 4) % 2 == 0 { 1 } else { 2 };
            for c in 0..3 {
                pixel[c] += (255 - pixel[c]) >> shift;
            }
        }
    }
}

/// An 8-bit RGBA PNG carrying `text` in a tEXt chunk.
fn encode_png(img: &RgbaImage, text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, img.width(), img.height());
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.add_text_chunk(TEXT_KEYWORD.to_string(), text.to_string()).map_err(|e| e.to_string())?;
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(img.as_raw()).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

fn main() {
    serve(handle);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lightens_only_the_bottom_band() {
        let mut img = RgbaImage::from_pixel(16, 16, image::Rgba([100, 50, 0, 255]));
        stamp(&mut img);
        assert_eq!(img.get_pixel(0, 13).0, [100, 50, 0, 255]);
        assert_eq!(img.get_pixel(2, 14).0, [177, 152, 127, 255], "half way to white");
        assert_eq!(img.get_pixel(0, 14).0, [138, 101, 63, 255], "a quarter of the way, the next stripe");
        assert_eq!(img.get_pixel(2, 15).0, [177, 152, 127, 255]);
        assert_eq!(img.get_pixel(5, 15).0, [138, 101, 63, 255]);
    }

    #[test]
    fn stamps_a_one_row_image() {
        let mut img = RgbaImage::from_pixel(3, 1, image::Rgba([0, 0, 0, 255]));
        stamp(&mut img);
        assert_eq!(img.get_pixel(0, 0).0, [127, 127, 127, 255]);
    }

    #[test]
    fn the_png_carries_the_text() {
        let img = RgbaImage::from_pixel(4, 3, image::Rgba([1, 2, 3, 255]));
        let png = encode_png(&img, "verge:ada").unwrap();
        let decoder = png::Decoder::new(png.as_slice());
        let reader = decoder.read_info().unwrap();
        let chunks = &reader.info().uncompressed_latin1_text;
        assert_eq!(chunks.len(), 1);
        assert_eq!((chunks[0].keyword.as_str(), chunks[0].text.as_str()), (TEXT_KEYWORD, "verge:ada"));
    }
}
