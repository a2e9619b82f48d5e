//! Lanczos3 resampling of 8-bit images, separable, with the weights of each output column and
//! row computed once and kept as 14-bit fixed-point integers (as libvips does), instead of the
//! `image` crate's per-pixel float path, which recomputes the kernel for every output pixel and
//! goes through 32-bit floats for every channel. It was the largest of the three steps of a
//! resize (decode, resample, encode); see README.md, "Speed".
//!
//! The weights are the `image` crate's (same kernel, support, centre and edge clamping), so the
//! output matches `resize_exact(…, Lanczos3)` to within rounding: the tests allow a difference
//! of 2 per channel.

const BITS: u32 = 14;
const ONE: i32 = 1 << BITS;
/// The first (vertical) pass keeps 2 bits below the 8-bit value (and values outside 0..255,
/// which Lanczos' negative lobes make), so the second rounds once.
const MID_BITS: u32 = 2;

/// The taps of one output sample: the first input index and one weight per input from there.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let a = x * std::f64::consts::PI;
        a.sin() / a
    }
}

fn lanczos3(x: f64) -> f64 {
    if x.abs() < 3.0 {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// The taps of every output sample along one axis, `src` input samples to `dst` outputs.
fn taps(src: usize, dst: usize) -> Vec<Taps> {
    let ratio = src as f64 / dst as f64;
    let scale = ratio.max(1.0);
    let support = 3.0 * scale;
    (0..dst)
        .map(|out| {
            let centre = (out as f64 + 0.5) * ratio;
            let left = ((centre - support).floor() as i64).clamp(0, src as i64 - 1) as usize;
            let right = ((centre + support).ceil() as i64).clamp(left as i64 + 1, src as i64) as usize;
            let centre = centre - 0.5;
            let raw: Vec<f64> = (left..right).map(|i| lanczos3((i as f64 - centre) / scale)).collect();
            let sum: f64 = raw.iter().sum();
            let mut weights: Vec<i32> = raw.iter().map(|w| (w / sum * f64::from(ONE)).round() as i32).collect();
            // Rounding may leave the sum a unit or two off ONE: give the difference to the
            // largest weight, so a flat image stays exactly flat.
            let off = ONE - weights.iter().sum::<i32>();
            if let Some(max) = weights.iter_mut().max_by_key(|w| **w) {
                *max += off;
            }
            Taps { start: left, weights }
        })
        .collect()
}

/// Resamples `pixels` (`width` × `height`, `channels` interleaved 8-bit samples per pixel) to
/// `new_width` × `new_height`.
pub fn lanczos3_resize(pixels: &[u8], width: usize, height: usize, channels: usize, new_width: usize, new_height: usize) -> Vec<u8> {
    assert_eq!(pixels.len(), width * height * channels);
    assert!(width > 0 && height > 0 && new_width > 0 && new_height > 0 && (1..=4).contains(&channels));
    // Vertical first: each output row is a weighted sum of whole input rows, an inner loop that
    // runs along contiguous memory and vectorizes, so the pass over the larger image is the cheap
    // kind. Kept as i16 with MID_BITS more bits.
    let rows = taps(height, new_height);
    let stride = width * channels;
    let mut mid = vec![0i16; new_height * stride];
    let mut acc = vec![0i32; stride];
    let shift = BITS - MID_BITS;
    for (y, t) in rows.iter().enumerate() {
        acc.iter_mut().for_each(|a| *a = 1 << (shift - 1));
        for (k, w) in t.weights.iter().enumerate() {
            let src = &pixels[(t.start + k) * stride..(t.start + k + 1) * stride];
            for (a, s) in acc.iter_mut().zip(src) {
                *a += w * i32::from(*s);
            }
        }
        for (m, a) in mid[y * stride..(y + 1) * stride].iter_mut().zip(&acc) {
            *m = (*a >> shift) as i16;
        }
    }
    // Horizontal: every output pixel sums its taps for all its channels at once.
    let columns = taps(width, new_width);
    let out_stride = new_width * channels;
    let mut out = vec![0u8; new_height * out_stride];
    let shift = BITS + MID_BITS;
    let round = 1i32 << (shift - 1);
    for y in 0..new_height {
        let row = &mid[y * stride..(y + 1) * stride];
        let dst = &mut out[y * out_stride..(y + 1) * out_stride];
        for (x, t) in columns.iter().enumerate() {
            let mut sum = [round; 4];
            let from = &row[t.start * channels..(t.start + t.weights.len()) * channels];
            for (w, px) in t.weights.iter().zip(from.chunks_exact(channels)) {
                for (a, s) in sum.iter_mut().zip(px) {
                    *a += w * i32::from(*s);
                }
            }
            for (o, a) in dst[x * channels..(x + 1) * channels].iter_mut().zip(&sum) {
                *o = (*a >> shift).clamp(0, 255) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::FilterType;
    use image::{DynamicImage, RgbImage, RgbaImage};

    fn pattern(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let noise = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 24;
            image::Rgb([((x * 255) / w) as u8 ^ (noise as u8 & 31), ((y * 255) / h) as u8, ((x ^ y) & 255) as u8])
        })
    }

    fn max_difference(a: &[u8], b: &[u8]) -> u8 {
        a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
    }

    #[test]
    fn matches_the_image_crate_lanczos3_within_rounding() {
        for (w, h, nw, nh) in [(800, 600, 400, 300), (173, 91, 64, 20), (40, 30, 97, 61), (16, 16, 1, 1), (1, 9, 3, 2)] {
            let img = pattern(w, h);
            let ours = lanczos3_resize(img.as_raw(), w as usize, h as usize, 3, nw as usize, nh as usize);
            let theirs = DynamicImage::ImageRgb8(img).resize_exact(nw, nh, FilterType::Lanczos3).to_rgb8();
            assert_eq!(ours.len(), theirs.as_raw().len());
            let d = max_difference(&ours, theirs.as_raw());
            assert!(d <= 2, "{}x{} -> {}x{}: differs by {}", w, h, nw, nh, d);
        }
    }

    #[test]
    fn keeps_a_flat_image_exactly_flat_in_every_channel() {
        let img = RgbaImage::from_pixel(37, 23, image::Rgba([200, 13, 255, 0]));
        let out = lanczos3_resize(img.as_raw(), 37, 23, 4, 11, 50);
        assert!(out.chunks(4).all(|p| p == [200, 13, 255, 0]));
    }

    #[test]
    fn the_weights_of_every_sample_sum_to_one() {
        for (src, dst) in [(800, 400), (3, 7), (1000, 1), (5, 5)] {
            for t in taps(src, dst) {
                assert_eq!(t.weights.iter().sum::<i32>(), ONE);
                assert!(t.start + t.weights.len() <= src);
            }
        }
    }
}
