//! Sniffing, header-only dimensions, decoding, Lanczos3 resizing and encoding: decoding and PNG
//! on the `image` crate (png + jpeg only), the resampling (resample.rs) and JPEG (jpeg.rs) our own.

use std::io::Cursor;

use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;
use image::{DynamicImage, ImageBuffer, ImageEncoder, ImageFormat};

use crate::jpeg;
use crate::resample::lanczos3_resize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpeg",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Format::Png => ImageFormat::Png,
            Format::Jpeg => ImageFormat::Jpeg,
        }
    }
}

/// The format from the magic bytes (the content-type of the request or upstream is not trusted).
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(Format::Jpeg)
    } else {
        None
    }
}

/// Width and height from the header only (PNG: IHDR; JPEG: the SOFn frame header), parsed here
/// without allocating anything for the pixels, so this is safe on a decompression bomb.
///
/// Not `image::io::Reader::into_dimensions`: in image 0.24.3 that builds the PNG decoder, which
/// on wasm32 (32-bit `usize`) fails with "Insufficient memory" for a header whose pixel buffer
/// would not fit in 4 GiB — exactly the bombs this check must tell apart from corrupt files.
pub fn dimensions(bytes: &[u8], format: Format) -> Result<(u32, u32), String> {
    match format {
        Format::Png => png_dimensions(bytes),
        Format::Jpeg => jpeg_dimensions(bytes),
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn png_dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    // signature (8), length (4) = 13, "IHDR", width, height, depth, colour, ..., crc
    if bytes.len() < 33 {
        return Err("the file ends before the end of IHDR".into());
    }
    if be32(&bytes[8..12]) != 13 || &bytes[12..16] != b"IHDR" {
        return Err("the first chunk is not a 13-byte IHDR".into());
    }
    let (w, h) = (be32(&bytes[16..20]), be32(&bytes[20..24]));
    // PNG limits each dimension to 2^31 - 1.
    if w > i32::MAX as u32 || h > i32::MAX as u32 {
        return Err(format!("IHDR declares {}x{}, beyond PNG's 2^31-1", w, h));
    }
    Ok((w, h))
}

fn jpeg_dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    let mut i = 2; // after SOI
    loop {
        // A marker: one or more 0xFF, then the code.
        if i >= bytes.len() || bytes[i] != 0xff {
            return Err(format!("no JPEG marker at byte {}", i));
        }
        while i < bytes.len() && bytes[i] == 0xff {
            i += 1;
        }
        let code = *bytes.get(i).ok_or("the file ends inside a marker")?;
        i += 1;
        match code {
            0x01 | 0xd0..=0xd7 => continue, // no length
            0xd9 | 0xda => return Err("no frame header (SOFn) before the scan data".into()),
            _ => {}
        }
        if i + 2 > bytes.len() {
            return Err("the file ends inside a marker segment".into());
        }
        let len = usize::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
        if len < 2 || i + len > bytes.len() {
            return Err(format!("marker segment 0x{:02x} runs past the end of the file", code));
        }
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if (0xc0..=0xcf).contains(&code) && code != 0xc4 && code != 0xc8 && code != 0xcc {
            if len < 8 {
                return Err("a frame header shorter than 8 bytes".into());
            }
            let h = u32::from(u16::from_be_bytes([bytes[i + 3], bytes[i + 4]]));
            let w = u32::from(u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]));
            return Ok((w, h));
        }
        i += len;
    }
}

/// The output height for `width`, keeping the aspect ratio: rounded to nearest, at least 1.
pub fn scaled_height(src_w: u32, src_h: u32, width: u32) -> u32 {
    let h = (u64::from(src_h) * u64::from(width) * 2 + u64::from(src_w)) / (2 * u64::from(src_w));
    h.clamp(1, u64::from(u32::MAX)) as u32
}

/// Decodes the whole image. `shrink_for` lets a JPEG be decoded at 1/2, 1/4 or 1/8 scale in the
/// DCT domain (as libvips' shrink-on-load does) while staying at least twice the final size, so
/// the Lanczos3 pass still does the real resampling; `None` decodes at full size.
pub fn decode(bytes: &[u8], format: Format, shrink_for: Option<(u32, u32)>) -> Result<DynamicImage, String> {
    match (format, shrink_for) {
        (Format::Jpeg, Some((w, h))) => {
            let mut decoder = JpegDecoder::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
            let want_w = w.saturating_mul(2).min(u32::from(u16::MAX)) as u16;
            let want_h = h.saturating_mul(2).min(u32::from(u16::MAX)) as u16;
            decoder.scale(want_w, want_h).map_err(|e| e.to_string())?;
            DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())
        }
        _ => {
            let mut reader = image::io::Reader::with_format(Cursor::new(bytes), format.image_format());
            // The pixels were already bounded by the megapixel check; the crate's own 512 MiB
            // allocation cap would only add a second, different limit.
            reader.no_limits();
            reader.decode().map_err(|e| e.to_string())
        }
    }
}

/// Resizes to exactly `width` × `height` with Lanczos3, in 8 bits per channel (resample.rs).
pub fn resize(img: DynamicImage, width: u32, height: u32) -> DynamicImage {
    let img = to_8bit(img);
    if img.width() == width && img.height() == height {
        return img;
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = (width as usize, height as usize);
    let resized = |raw: &[u8], channels: usize| lanczos3_resize(raw, w, h, channels, nw, nh);
    let built = match &img {
        DynamicImage::ImageLuma8(i) => ImageBuffer::from_raw(width, height, resized(i.as_raw(), 1)).map(DynamicImage::ImageLuma8),
        DynamicImage::ImageLumaA8(i) => ImageBuffer::from_raw(width, height, resized(i.as_raw(), 2)).map(DynamicImage::ImageLumaA8),
        DynamicImage::ImageRgb8(i) => ImageBuffer::from_raw(width, height, resized(i.as_raw(), 3)).map(DynamicImage::ImageRgb8),
        DynamicImage::ImageRgba8(i) => ImageBuffer::from_raw(width, height, resized(i.as_raw(), 4)).map(DynamicImage::ImageRgba8),
        _ => None,
    };
    // to_8bit leaves only those four; anything else takes the crate's own (slower) path.
    built.unwrap_or_else(|| img.resize_exact(width, height, FilterType::Lanczos3))
}

fn to_8bit(img: DynamicImage) -> DynamicImage {
    match img {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_) | DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => img,
        DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(img.to_luma8()),
        DynamicImage::ImageLumaA16(_) => DynamicImage::ImageLumaA8(img.to_luma_alpha8()),
        DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgb32F(_) => DynamicImage::ImageRgb8(img.to_rgb8()),
        _ => DynamicImage::ImageRgba8(img.to_rgba8()),
    }
}

/// Encodes as PNG (keeping gray/alpha) or JPEG at `quality` (alpha composited over white, since
/// JPEG has no alpha channel).
pub fn encode(img: &DynamicImage, format: Format, quality: u8) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let (w, h) = (img.width(), img.height());
    match format {
        Format::Png => {
            let encoder = PngEncoder::new_with_quality(&mut out, CompressionType::Default, PngFilter::Adaptive);
            encoder.write_image(img.as_bytes(), w, h, img.color()).map_err(|e| e.to_string())?;
        }
        Format::Jpeg => {
            out = match img {
                DynamicImage::ImageLuma8(gray) => jpeg::encode_gray(gray.as_raw(), w, h, quality),
                DynamicImage::ImageLumaA8(gray) => {
                    let flat: Vec<u8> = gray.as_raw().chunks_exact(2).map(|p| over_white(p[0], p[1])).collect();
                    jpeg::encode_gray(&flat, w, h, quality)
                }
                DynamicImage::ImageRgb8(rgb) => jpeg::encode_rgb(rgb.as_raw(), w, h, quality),
                _ => {
                    let rgba = img.to_rgba8();
                    let flat: Vec<u8> = rgba.as_raw().chunks_exact(4).flat_map(|p| [over_white(p[0], p[3]), over_white(p[1], p[3]), over_white(p[2], p[3])]).collect();
                    jpeg::encode_rgb(&flat, w, h, quality)
                }
            }?;
        }
    }
    Ok(out)
}

fn over_white(value: u8, alpha: u8) -> u8 {
    let v = u32::from(value) * u32::from(alpha) + 255 * (255 - u32::from(alpha));
    ((v + 127) / 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_height_rounds_and_is_at_least_one() {
        assert_eq!(scaled_height(1600, 1200, 400), 300);
        assert_eq!(scaled_height(3, 2, 2), 1); // 1.33 -> 1
        assert_eq!(scaled_height(2, 3, 3), 5); // 4.5 -> 5 (half up)
        assert_eq!(scaled_height(100_000, 1, 10), 1);
        assert_eq!(scaled_height(1, 100_000, 4096), 409_600_000);
    }

    #[test]
    fn reads_dimensions_from_headers_only() {
        // A PNG signature and an IHDR claiming 100000 x 100000, nothing else.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(dimensions(&png, Format::Png), Ok((100_000, 100_000)));
        assert!(dimensions(&png[..20], Format::Png).is_err());
        // SOI, APP0 (len 4), SOF2 (progressive) 65535 x 300 (height first).
        let jpeg = [0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xff, 0xc2, 0, 11, 8, 0x01, 0x2c, 0xff, 0xff, 1, 1, 0x11, 0];
        assert_eq!(dimensions(&jpeg, Format::Jpeg), Ok((65_535, 300)));
        assert!(dimensions(&jpeg[..12], Format::Jpeg).is_err());
        assert!(dimensions(&[0xff, 0xd8, 0xff, 0xda, 0, 2], Format::Jpeg).is_err());
    }

    #[test]
    fn sniffs_only_png_and_jpeg() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Format::Png));
        assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0]), Some(Format::Jpeg));
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn round_trips_through_both_encoders() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(64, 48, |x, y| image::Rgba([x as u8 * 4, y as u8 * 5, 128, 200])));
        for format in [Format::Png, Format::Jpeg] {
            let bytes = encode(&resize(img.clone(), 20, 15), format, 85).unwrap();
            assert_eq!(sniff(&bytes), Some(format));
            assert_eq!(dimensions(&bytes, format).unwrap(), (20, 15));
            let back = decode(&bytes, format, None).unwrap();
            assert_eq!((back.width(), back.height()), (20, 15));
        }
    }

    #[test]
    fn alpha_is_composited_over_white_for_jpeg() {
        assert_eq!(over_white(0, 0), 255);
        assert_eq!(over_white(10, 255), 10);
        assert_eq!(over_white(0, 128), 127);
    }
}
