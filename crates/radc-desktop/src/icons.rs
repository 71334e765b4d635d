//! Feed icons → PNGs for the hicolor icon theme.
//!
//! A feed names each resource's icon as `IconRaw` (a Windows `.ico` file:
//! any mix of BMP and PNG frames) or as a PNG of one size (`Icon32`, …).
//! [`decode`] turns either into RGBA [`Frame`]s; [`render_theme_pngs`] picks
//! the best frame for each theme size, scales it and encodes a PNG.
//!
//! Icons are untrusted. [`Limits`] bounds the input size, the number of
//! frames, each frame's dimensions and the pixels decoded in total; every
//! frame's declared size is read from its header and checked *before* a
//! decoder allocates anything, and the decoders' own limits (`image`'s
//! [`image::Limits`], which sets the `png` crate's memory limit) are set as
//! well. A bad input is an [`IconError`], never a panic.
//!
//! The ICO directory (6 bytes plus 16 per frame) is read here; each frame's
//! data is decoded by the `image` crate (its PNG decoder for PNG frames, its
//! ICO/BMP decoder for BMP frames, which handles 1/4/8/16/24/32-bit colour,
//! palettes and the AND mask).

use std::io::Cursor;

use image::codecs::ico::IcoDecoder;
use image::codecs::png::{CompressionType, PngDecoder, PngEncoder};
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageError, Rgba, Rgba32FImage};

/// The sizes radc may install into `hicolor/<n>x<n>/apps`; which of them
/// an icon gets is [`wanted_sizes`]'s choice.
pub const THEME_SIZES: [u32; 8] = [16, 22, 24, 32, 48, 64, 128, 256];

/// The size the icon theme specification asks every application to
/// install: desktops find an icon of this size in `hicolor` at least.
pub const REQUIRED_SIZE: u32 = 48;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
const ICO_HEADER_LEN: usize = 6;
const ICO_ENTRY_LEN: usize = 16;

/// Bounds on what [`decode`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_input_bytes: usize,
    /// Largest width or height of one frame, in pixels.
    pub max_dimension: u32,
    /// Most frames an ICO directory may declare.
    pub max_frames: usize,
    /// Most pixels decoded over all frames of one input.
    pub max_total_pixels: u64,
}

impl Default for Limits {
    /// 4 MiB, 1024 px, 64 frames, 4 Mi pixels (16 MiB of RGBA) in total.
    fn default() -> Self {
        Limits {
            max_input_bytes: 4 * 1024 * 1024,
            max_dimension: 1024,
            max_frames: 64,
            max_total_pixels: 4 * 1024 * 1024,
        }
    }
}

/// Why an icon was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IconError {
    #[error("icon is {len} bytes, more than the limit of {max}")]
    InputTooLarge { len: usize, max: usize },
    #[error("icon is neither a PNG nor an ICO file")]
    UnknownFormat,
    #[error("ICO file is truncated: {0}")]
    Truncated(&'static str),
    #[error("ICO file holds no image")]
    NoFrames,
    #[error("ICO file declares {count} images, more than the limit of {max}")]
    TooManyFrames { count: usize, max: usize },
    #[error("image of {width}×{height} px is larger than the limit of {max}×{max}")]
    TooLarge { width: u32, height: u32, max: u32 },
    #[error("images together exceed the limit of {max} pixels")]
    TooManyPixels { max: u64 },
    #[error("image needs more memory than allowed: {0}")]
    MemoryLimit(String),
    #[error("malformed image data: {0}")]
    Malformed(String),
}

/// One decoded image: `width × height` pixels, RGBA, 8 bits per channel,
/// rows top to bottom, not premultiplied.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}×{})", self.width, self.height)
    }
}

impl Frame {
    /// A frame from raw RGBA; `None` unless both sides are non-zero and
    /// `rgba` holds exactly `4 × width × height` bytes.
    pub fn from_rgba(width: u32, height: u32, rgba: Vec<u8>) -> Option<Frame> {
        let len = u64::from(width) * u64::from(height) * 4;
        (width > 0 && height > 0 && rgba.len() as u64 == len).then_some(Frame {
            width,
            height,
            rgba,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels, RGBA, row by row from the top.
    pub fn rgba(&self) -> &[u8] {
        &self.rgba
    }

    /// The longer side: what "size" means when frames are compared.
    fn size(&self) -> u32 {
        self.width.max(self.height)
    }
}

/// Decodes a PNG or ICO file into its frames.
///
/// A PNG gives one frame. An ICO gives one frame per distinct size: when a
/// file holds several frames of one size (say 32×32 at 4, 8 and 32 bits)
/// only the deepest one that decodes is kept. Frames are in the order of
/// the file's directory.
///
/// Structural problems (too large, unknown format, a directory that is
/// truncated or declares too many frames or points past the end) refuse the
/// whole file. A frame that does not decode, or is too large, is skipped if
/// another frame decodes; if none does, the first frame's error is returned.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Vec<Frame>, IconError> {
    if bytes.len() > limits.max_input_bytes {
        return Err(IconError::InputTooLarge {
            len: bytes.len(),
            max: limits.max_input_bytes,
        });
    }
    let candidates = if bytes.starts_with(&PNG_SIGNATURE) {
        vec![Candidate::new(bytes, 0)]
    } else if bytes.len() >= 4 && bytes[..4] == [0, 0, 1, 0] {
        ico_directory(bytes, limits)?
    } else {
        return Err(IconError::UnknownFormat);
    };
    decode_candidates(candidates, limits)
}

/// One frame's data as found in the input, before decoding.
struct Candidate<'a> {
    index: usize,
    data: &'a [u8],
    /// `(width, height, bits per pixel)` from the frame's own header, or
    /// why it could not be read.
    header: Result<(u32, u32, u16), IconError>,
}

impl<'a> Candidate<'a> {
    fn new(data: &'a [u8], index: usize) -> Self {
        Candidate {
            index,
            data,
            header: peek_header(data),
        }
    }

    fn is_png(&self) -> bool {
        self.data.starts_with(&PNG_SIGNATURE)
    }
}

/// Reads the ICO directory: `ICONDIR` (reserved, type 1, count) and `count`
/// `ICONDIRENTRY`s whose last two fields are the frame's length and offset.
fn ico_directory<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Vec<Candidate<'a>>, IconError> {
    let Some(&[lo, hi]) = bytes.get(4..ICO_HEADER_LEN) else {
        return Err(IconError::Truncated("header ends early"));
    };
    let count = usize::from(u16::from_le_bytes([lo, hi]));
    if count == 0 {
        return Err(IconError::NoFrames);
    }
    if count > limits.max_frames {
        return Err(IconError::TooManyFrames {
            count,
            max: limits.max_frames,
        });
    }
    let dir_end = ICO_HEADER_LEN + count * ICO_ENTRY_LEN;
    let Some(directory) = bytes.get(ICO_HEADER_LEN..dir_end) else {
        return Err(IconError::Truncated("directory ends early"));
    };
    directory
        .chunks_exact(ICO_ENTRY_LEN)
        .enumerate()
        .map(|(index, entry)| {
            let len = u32_le(&entry[8..12]) as usize;
            let offset = u32_le(&entry[12..16]) as usize;
            let data = offset
                .checked_add(len)
                .and_then(|end| bytes.get(offset..end))
                .ok_or(IconError::Truncated(
                    "an image lies past the end of the file",
                ))?;
            Ok(Candidate::new(data, index))
        })
        .collect()
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn i32_le(b: &[u8]) -> i32 {
    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The declared size of a PNG (`IHDR`) or ICO-style BMP
/// (`BITMAPINFOHEADER`, whose height counts the colour rows and the mask
/// rows), read without decoding anything.
fn peek_header(data: &[u8]) -> Result<(u32, u32, u16), IconError> {
    if data.starts_with(&PNG_SIGNATURE) {
        let ihdr = data
            .get(8..24)
            .filter(|h| &h[4..8] == b"IHDR")
            .ok_or_else(|| IconError::Malformed("PNG without an IHDR header".into()))?;
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        return Ok((be(&ihdr[8..12]), be(&ihdr[12..16]), 32));
    }
    let header = data
        .get(..16)
        .ok_or_else(|| IconError::Malformed("BMP header ends early".into()))?;
    let width = i32_le(&header[4..8]);
    let height = i32_le(&header[8..12]).unsigned_abs() / 2;
    let bpp = u16::from_le_bytes([header[14], header[15]]);
    if width <= 0 || height == 0 {
        return Err(IconError::Malformed(format!(
            "BMP declares an empty image ({width}×{height})"
        )));
    }
    Ok((width.unsigned_abs(), height, bpp))
}

fn decode_candidates(
    mut candidates: Vec<Candidate>,
    limits: &Limits,
) -> Result<Vec<Frame>, IconError> {
    // Deepest first within one size, so the first that decodes wins; the
    // directory order is restored at the end.
    candidates.sort_by_key(|c| match c.header {
        Ok((w, h, bpp)) => (0, w, h, std::cmp::Reverse(bpp), c.index),
        Err(_) => (1, 0, 0, std::cmp::Reverse(0), c.index),
    });
    let image_limits = image_limits(limits);
    let mut frames: Vec<(usize, Frame)> = Vec::new();
    let mut first_error: Option<(usize, IconError)> = None;
    let mut pixels = 0u64;
    for candidate in candidates {
        let result = match candidate.header {
            Err(ref e) => Err(e.clone()),
            Ok((width, height, _)) => {
                if frames
                    .iter()
                    .any(|(_, f)| (f.width, f.height) == (width, height))
                {
                    continue;
                }
                let area = u64::from(width) * u64::from(height);
                if width == 0 || height == 0 {
                    Err(IconError::Malformed(format!(
                        "image declares an empty size ({width}×{height})"
                    )))
                } else if width > limits.max_dimension || height > limits.max_dimension {
                    Err(IconError::TooLarge {
                        width,
                        height,
                        max: limits.max_dimension,
                    })
                } else if pixels.saturating_add(area) > limits.max_total_pixels {
                    Err(IconError::TooManyPixels {
                        max: limits.max_total_pixels,
                    })
                } else {
                    decode_frame(&candidate, (width, height), &image_limits)
                        .map(|frame| opaque_if_alpha_unused(frame, &candidate))
                }
            }
        };
        match result {
            Ok(frame) => {
                pixels += u64::from(frame.width) * u64::from(frame.height);
                frames.push((candidate.index, frame));
            }
            Err(e) => {
                if first_error
                    .as_ref()
                    .is_none_or(|(i, _)| candidate.index < *i)
                {
                    first_error = Some((candidate.index, e));
                }
            }
        }
    }
    if frames.is_empty() {
        return Err(first_error.map_or(IconError::NoFrames, |(_, e)| e));
    }
    frames.sort_by_key(|(index, _)| *index);
    Ok(frames.into_iter().map(|(_, f)| f).collect())
}

/// The same bounds for the `image` decoders: dimensions, and an allocation
/// budget (passed on as the `png` crate's memory limit) of twice the
/// largest frame allowed as 16-bit RGBA, plus 1 MiB for chunks.
fn image_limits(limits: &Limits) -> image::Limits {
    let side = u64::from(limits.max_dimension);
    let pixels = side.saturating_mul(side).min(limits.max_total_pixels);
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_dimension);
    l.max_image_height = Some(limits.max_dimension);
    l.max_alloc = Some(pixels.saturating_mul(16).saturating_add(1 << 20));
    l
}

fn decode_frame(
    candidate: &Candidate,
    declared: (u32, u32),
    limits: &image::Limits,
) -> Result<Frame, IconError> {
    let frame = if candidate.is_png() {
        let decoder = PngDecoder::with_limits(Cursor::new(candidate.data), limits.clone())
            .map_err(image_error)?;
        to_frame(decoder, limits)?
    } else {
        // image decodes ICO-style BMPs (doubled height, AND mask) only
        // inside an ICO, so the frame gets a directory of its own, whose
        // entry agrees with the BMP header.
        let (width, height) = declared;
        let side = |n: u32| if n >= 256 { 0 } else { n as u8 };
        let offset = (ICO_HEADER_LEN + ICO_ENTRY_LEN) as u32;
        let mut ico = Vec::with_capacity(offset as usize + candidate.data.len());
        ico.extend_from_slice(&[0, 0, 1, 0, 1, 0]);
        ico.extend_from_slice(&[side(width), side(height), 0, 0, 1, 0, 0, 0]);
        ico.extend_from_slice(&(candidate.data.len() as u32).to_le_bytes());
        ico.extend_from_slice(&offset.to_le_bytes());
        ico.extend_from_slice(candidate.data);
        let decoder = IcoDecoder::new(Cursor::new(ico.as_slice())).map_err(image_error)?;
        to_frame(decoder, limits)?
    };
    if (frame.width, frame.height) != declared {
        return Err(IconError::Malformed(
            "image size differs from its header".into(),
        ));
    }
    Ok(frame)
}

/// A 32-bit BMP frame whose alpha bytes are all zero predates alpha: like
/// Windows, take its pixels as opaque except where the AND mask (if the
/// frame has one) marks them transparent.
fn opaque_if_alpha_unused(mut frame: Frame, candidate: &Candidate) -> Frame {
    let Ok((width, height, 32)) = candidate.header else {
        return frame;
    };
    if candidate.is_png() || frame.rgba.chunks_exact(4).any(|p| p[3] != 0) {
        return frame;
    }
    let data = candidate.data;
    let header_len = u32_le(&data[..4]) as usize;
    let compression = data.get(16..20).map(u32_le);
    let (w, h) = (width as usize, height as usize);
    let mask_row = w.div_ceil(32) * 4;
    let mask = header_len
        .checked_add(w * h * 4)
        .filter(|_| compression == Some(0))
        .and_then(|start| data.get(start..start.checked_add(mask_row * h)?));
    for (i, pixel) in frame.rgba.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i % w, i / w);
        // Mask rows run bottom-up, one bit per pixel, high bit first.
        let transparent =
            mask.is_some_and(|m| m[(h - 1 - y) * mask_row + x / 8] & (0x80 >> (x % 8)) != 0);
        if !transparent {
            pixel[3] = 255;
        }
    }
    frame
}

fn to_frame(mut decoder: impl ImageDecoder, limits: &image::Limits) -> Result<Frame, IconError> {
    decoder.set_limits(limits.clone()).map_err(image_error)?;
    let image = DynamicImage::from_decoder(decoder)
        .map_err(image_error)?
        .into_rgba8();
    let (width, height) = image.dimensions();
    Frame::from_rgba(width, height, image.into_raw())
        .ok_or_else(|| IconError::Malformed("empty image".into()))
}

fn image_error(e: ImageError) -> IconError {
    match e {
        ImageError::Limits(e) => IconError::MemoryLimit(e.to_string()),
        e => IconError::Malformed(e.to_string()),
    }
}

/// The sizes of `candidates` worth rendering from `frames`, increasing:
///
/// - every candidate a frame has exactly (on its longer side): the
///   artist's own pixels, which no scaling improves on;
/// - [`REQUIRED_SIZE`], which the icon theme specification asks for;
/// - the largest candidate the largest frame reaches without upscaling,
///   so a large source keeps its detail for large views.
///
/// Every other size is left to the desktop, which scales the nearest
/// installed size as the icon theme specification describes; rendering
/// them all would multiply the files a workspace puts on disk without
/// adding a pixel the source has. No frames, no sizes.
pub fn wanted_sizes(frames: &[Frame], candidates: &[u32]) -> Vec<u32> {
    let Some(largest) = frames.iter().map(Frame::size).max() else {
        return Vec::new();
    };
    let covered = candidates.iter().copied().filter(|&s| s <= largest).max();
    let mut sizes: Vec<u32> = candidates
        .iter()
        .copied()
        .filter(|&s| {
            s == REQUIRED_SIZE || Some(s) == covered || frames.iter().any(|f| f.size() == s)
        })
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// Renders one PNG per wanted size (`size × size` pixels), in the order of
/// `sizes`, as `(size, png bytes)`.
///
/// The source for a size is the frame of exactly that size, else the
/// smallest larger one, else the largest (sizes compare the longer side).
/// A size more than twice the largest frame's is left out: upscaling a
/// small icon that far only makes it blurry, and the theme falls back to
/// scaling the nearest size itself. Downscaling uses Lanczos3, upscaling
/// Catmull-Rom, both on premultiplied alpha so transparent pixels lend no
/// colour to their neighbours. A frame that is not square is scaled to fit
/// and centred on a transparent square. Sizes of 0 are left out.
pub fn render_theme_pngs(frames: &[Frame], sizes: &[u32]) -> Vec<(u32, Vec<u8>)> {
    sizes
        .iter()
        .filter_map(|&size| {
            let source = pick_frame(frames, size)?;
            let png = encode_png(&scale(source, size), size)?;
            Some((size, png))
        })
        .collect()
}

fn pick_frame(frames: &[Frame], size: u32) -> Option<&Frame> {
    if size == 0 {
        return None;
    }
    let smallest_larger = frames
        .iter()
        .filter(|f| f.size() >= size)
        .min_by_key(|f| f.size());
    let chosen = smallest_larger.or_else(|| frames.iter().max_by_key(|f| f.size()))?;
    (u64::from(size) <= 2 * u64::from(chosen.size())).then_some(chosen)
}

/// Scales `frame` to fit `size × size`, centred, as RGBA8.
fn scale(frame: &Frame, size: u32) -> Vec<u8> {
    if (frame.width, frame.height) == (size, size) {
        return frame.rgba.clone();
    }
    let longer = frame.size();
    let fit = |n: u32| {
        ((u64::from(n) * u64::from(size) + u64::from(longer) / 2) / u64::from(longer)).max(1) as u32
    };
    let (width, height) = (fit(frame.width), fit(frame.height));

    let premultiplied = Rgba32FImage::from_fn(frame.width, frame.height, |x, y| {
        let i = (y as usize * frame.width as usize + x as usize) * 4;
        let p = &frame.rgba[i..i + 4];
        let a = f32::from(p[3]) / 255.0;
        Rgba([
            f32::from(p[0]) / 255.0 * a,
            f32::from(p[1]) / 255.0 * a,
            f32::from(p[2]) / 255.0 * a,
            a,
        ])
    });
    let filter = if longer > size {
        FilterType::Lanczos3
    } else {
        FilterType::CatmullRom
    };
    let scaled = image::imageops::resize(&premultiplied, width, height, filter);

    let mut out = vec![0u8; size as usize * size as usize * 4];
    let (left, top) = ((size - width) / 2, (size - height) / 2);
    let quantize = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for (x, y, p) in scaled.enumerate_pixels() {
        let [r, g, b, a] = p.0;
        let a = a.clamp(0.0, 1.0);
        let i = ((y + top) as usize * size as usize + (x + left) as usize) * 4;
        let alpha = quantize(a);
        if alpha > 0 {
            out[i..i + 4].copy_from_slice(&[
                quantize(r / a),
                quantize(g / a),
                quantize(b / a),
                alpha,
            ]);
        }
    }
    out
}

/// Fast compression: `Best` made rendering three times slower for files a
/// few percent smaller, and a cold sync renders every icon. (A change here
/// changes the bytes rendered: bump [`crate::render_cache::RENDERER`].)
fn encode_png(rgba: &[u8], size: u32) -> Option<Vec<u8>> {
    let mut png = Vec::new();
    PngEncoder::new_with_quality(
        &mut png,
        CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(rgba, size, size, image::ExtendedColorType::Rgba8)
    .ok()?;
    Some(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(width: u32, height: u32, rgba: [u8; 4]) -> Frame {
        Frame::from_rgba(width, height, rgba.repeat((width * height) as usize)).unwrap()
    }

    #[test]
    fn picks_exact_then_smallest_larger_then_largest() {
        let frames = [
            solid(16, 16, [1; 4]),
            solid(32, 32, [2; 4]),
            solid(48, 48, [3; 4]),
        ];
        assert_eq!(pick_frame(&frames, 32).unwrap().width, 32);
        assert_eq!(pick_frame(&frames, 24).unwrap().width, 32);
        assert_eq!(pick_frame(&frames, 64).unwrap().width, 48);
        assert_eq!(pick_frame(&frames, 96).unwrap().width, 48);
        assert!(pick_frame(&frames, 97).is_none());
        assert!(pick_frame(&frames, 0).is_none());
        assert!(pick_frame(&[], 16).is_none());
    }

    #[test]
    fn wants_own_sizes_the_required_one_and_the_largest_covered() {
        let sizes = |frames: &[(u32, u32)]| {
            let frames: Vec<Frame> = frames.iter().map(|&(w, h)| solid(w, h, [9; 4])).collect();
            wanted_sizes(&frames, &THEME_SIZES)
        };
        assert_eq!(sizes(&[(32, 32)]), [32, 48]);
        assert_eq!(
            sizes(&[(16, 16), (32, 32), (48, 48), (256, 256)]),
            [16, 32, 48, 256]
        );
        // Off-theme sizes: the required size and the largest one reached.
        assert_eq!(sizes(&[(40, 40)]), [32, 48]);
        assert_eq!(sizes(&[(300, 300)]), [48, 256]);
        assert_eq!(sizes(&[(100, 100), (20, 20)]), [48, 64]);
        // A non-square frame counts by its longer side.
        assert_eq!(sizes(&[(64, 40)]), [48, 64]);
        // Too small to cover any candidate: only the required size, which
        // rendering leaves out if it would upscale more than twice.
        assert_eq!(sizes(&[(8, 8)]), [48]);
        assert!(sizes(&[]).is_empty());
    }

    #[test]
    fn non_square_frame_is_centred() {
        let frame = solid(32, 16, [255, 0, 0, 255]);
        let out = scale(&frame, 32);
        let alpha = |x: u32, y: u32| out[((y * 32 + x) * 4 + 3) as usize];
        assert_eq!(alpha(0, 0), 0);
        assert_eq!(alpha(16, 16), 255);
        assert_eq!(alpha(16, 31), 0);
    }

    #[test]
    fn from_rgba_checks_length() {
        assert!(Frame::from_rgba(2, 2, vec![0; 16]).is_some());
        assert!(Frame::from_rgba(2, 2, vec![0; 15]).is_none());
        assert!(Frame::from_rgba(0, 0, vec![]).is_none());
    }

    #[test]
    fn peeks_sizes() {
        let mut bmp = vec![0u8; 16];
        bmp[0] = 40;
        bmp[4..8].copy_from_slice(&20i32.to_le_bytes());
        bmp[8..12].copy_from_slice(&40i32.to_le_bytes());
        bmp[14] = 8;
        assert_eq!(peek_header(&bmp), Ok((20, 20, 8)));
        bmp[8..12].copy_from_slice(&1i32.to_le_bytes());
        assert!(peek_header(&bmp).is_err());
        assert!(peek_header(&bmp[..10]).is_err());
        assert!(peek_header(&PNG_SIGNATURE).is_err());
    }
}
