//! Icons: real ICO files (built with the independent `ico` crate) and PNGs
//! through `decode` and `render_theme_pngs`, and hostile inputs.

use std::time::{Duration, Instant};

use ico::{IconDir, IconDirEntry, IconImage, ResourceType};
use image::{ImageEncoder, codecs::png::PngEncoder};
use proptest::prelude::*;
use radc_desktop::icons::{IconError, Limits, THEME_SIZES, decode, render_theme_pngs};

/// `size × size`: a transparent border of `size / 4` around an opaque
/// square of `colour`.
fn bordered(size: u32, colour: [u8; 3]) -> Vec<u8> {
    let border = size / 4;
    let mut rgba = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let inside =
                (border..size - border).contains(&x) && (border..size - border).contains(&y);
            if inside {
                rgba.extend_from_slice(&[colour[0], colour[1], colour[2], 255]);
            } else {
                rgba.extend_from_slice(&[0, 0, 0, 0]);
            }
        }
    }
    rgba
}

/// Like [`bordered`] but with a soft (half-transparent) edge, so that an
/// encoder must keep a real alpha channel.
fn soft(size: u32, colour: [u8; 3]) -> Vec<u8> {
    let mut rgba = bordered(size, colour);
    let border = size / 4;
    for x in border..size - border {
        rgba[((border * size + x) * 4 + 3) as usize] = 128;
    }
    rgba
}

fn ico_file(entries: Vec<IconDirEntry>) -> Vec<u8> {
    let mut dir = IconDir::new(ResourceType::Icon);
    for e in entries {
        dir.add_entry(e);
    }
    let mut out = Vec::new();
    dir.write(&mut out).unwrap();
    out
}

fn bmp_entry(size: u32, rgba: Vec<u8>) -> IconDirEntry {
    IconDirEntry::encode_as_bmp(&IconImage::from_rgba_data(size, size, rgba)).unwrap()
}

fn png_entry(size: u32, rgba: Vec<u8>) -> IconDirEntry {
    IconDirEntry::encode_as_png(&IconImage::from_rgba_data(size, size, rgba)).unwrap()
}

fn png_file(size: u32, rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(rgba, size, size, image::ExtendedColorType::Rgba8)
        .unwrap();
    out
}

fn pixel(rgba: &[u8], width: u32, x: u32, y: u32) -> [u8; 4] {
    let i = ((y * width + x) * 4) as usize;
    rgba[i..i + 4].try_into().unwrap()
}

/// Decodes a rendered PNG independently and checks its size and corners.
fn check_rendered(size: u32, png: &[u8]) -> image::RgbaImage {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap()
        .into_rgba8();
    assert_eq!(img.dimensions(), (size, size), "size {size}");
    for (x, y) in [(0, 0), (size - 1, 0), (0, size - 1), (size - 1, size - 1)] {
        assert_eq!(
            img.get_pixel(x, y).0[3],
            0,
            "corner ({x},{y}) of {size} not transparent"
        );
    }
    img
}

fn timed<T>(f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < Duration::from_millis(100), "took {took:?}");
    out
}

#[test]
fn ico_with_bmp_and_png_frames() {
    // 16×16 as a 32-bit BMP with alpha, 48×48 as PNG.
    let bmp = bmp_entry(16, soft(16, [200, 0, 0]));
    assert_eq!(bmp.bits_per_pixel(), 32);
    assert!(!bmp.is_png());
    let png = png_entry(48, soft(48, [0, 0, 200]));
    assert!(png.is_png());
    let file = ico_file(vec![bmp, png]);

    let frames = decode(&file, &Limits::default()).unwrap();
    let sizes: Vec<_> = frames.iter().map(|f| (f.width(), f.height())).collect();
    assert_eq!(sizes, [(16, 16), (48, 48)]);
    let f16 = &frames[0];
    assert_eq!(pixel(f16.rgba(), 16, 0, 0)[3], 0);
    assert_eq!(pixel(f16.rgba(), 16, 8, 8), [200, 0, 0, 255]);
    assert_eq!(pixel(f16.rgba(), 16, 8, 4), [200, 0, 0, 128]);
    assert_eq!(pixel(frames[1].rgba(), 48, 24, 24), [0, 0, 200, 255]);

    let rendered = render_theme_pngs(&frames, &THEME_SIZES);
    let got: Vec<u32> = rendered.iter().map(|(s, _)| *s).collect();
    // 128 and 256 are more than twice 48: left out.
    assert_eq!(got, [16, 22, 24, 32, 48, 64]);
    for (size, png) in &rendered {
        let img = check_rendered(*size, png);
        let centre = img.get_pixel(size / 2, size / 2).0;
        // 16 comes from the red BMP frame, every other size from the blue PNG.
        if *size == 16 {
            assert_eq!(centre, [200, 0, 0, 255]);
        } else {
            assert_eq!(centre, [0, 0, 200, 255], "size {size}");
        }
    }
}

#[test]
fn low_depth_bmp_frames_with_and_mask() {
    // Two colours and binary alpha: `ico` writes 1 bit per pixel plus the
    // AND mask; up to 16 colours 4 bits, up to 256 colours 8 bits; more
    // colours with binary alpha give 24 bits plus the mask.
    let two = bordered(32, [10, 200, 30]);
    let mut sixteen = bordered(24, [0, 0, 0]);
    let mut many = bordered(20, [0, 0, 0]);
    for (i, px) in sixteen.chunks_exact_mut(4).enumerate() {
        if px[3] == 255 {
            px[0] = (i % 10) as u8 * 20;
        }
    }
    let mut colours256 = bordered(40, [0, 0, 0]);
    for (i, px) in colours256.chunks_exact_mut(4).enumerate() {
        if px[3] == 255 {
            px[0] = (i % 100) as u8;
        }
    }
    for (i, px) in many.chunks_exact_mut(4).enumerate() {
        if px[3] == 255 {
            px[0] = i as u8;
            px[1] = (i * 7) as u8;
            px[2] = (i / 3) as u8;
        }
    }
    let entries = vec![
        bmp_entry(32, two.clone()),
        bmp_entry(24, sixteen.clone()),
        bmp_entry(40, colours256.clone()),
        bmp_entry(20, many.clone()),
    ];
    let depths: Vec<u16> = entries.iter().map(|e| e.bits_per_pixel()).collect();
    assert_eq!(depths, [1, 4, 8, 24]);
    let frames = decode(&ico_file(entries), &Limits::default()).unwrap();
    let expected = [(32, two), (24, sixteen), (40, colours256), (20, many)];
    assert_eq!(frames.len(), expected.len());
    for (frame, (size, rgba)) in frames.iter().zip(expected) {
        assert_eq!((frame.width(), frame.height()), (size, size));
        // Transparent pixels may carry any colour; compare alpha everywhere
        // and colour where opaque.
        for (got, want) in frame.rgba().chunks_exact(4).zip(rgba.chunks_exact(4)) {
            assert_eq!(got[3], want[3], "alpha of {size}");
            if want[3] == 255 {
                assert_eq!(got, want, "pixel of {size}");
            }
        }
    }
}

#[test]
fn same_size_keeps_the_deepest_frame() {
    // A 4-bit-ish frame (grey) and a 32-bit frame (soft blue) of one size.
    let shallow = bmp_entry(32, bordered(32, [90, 90, 90]));
    assert!(shallow.bits_per_pixel() < 32);
    let deep = bmp_entry(32, soft(32, [0, 0, 250]));
    assert_eq!(deep.bits_per_pixel(), 32);
    let frames = decode(&ico_file(vec![shallow, deep]), &Limits::default()).unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(pixel(frames[0].rgba(), 32, 16, 16), [0, 0, 250, 255]);
}

#[test]
fn png_input_icon32() {
    let file = png_file(32, &bordered(32, [0, 128, 255]));
    let frames = decode(&file, &Limits::default()).unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].width(), frames[0].height()), (32, 32));
    let rendered = render_theme_pngs(&frames, &THEME_SIZES);
    let got: Vec<u32> = rendered.iter().map(|(s, _)| *s).collect();
    assert_eq!(got, [16, 22, 24, 32, 48, 64]);
    for (size, png) in &rendered {
        let img = check_rendered(*size, png);
        assert_eq!(img.get_pixel(size / 2, size / 2).0, [0, 128, 255, 255]);
    }
    // The exact size is copied, not resampled.
    let (_, png32) = &rendered[3];
    let img = image::load_from_memory(png32).unwrap().into_rgba8();
    assert_eq!(img.into_raw(), bordered(32, [0, 128, 255]));
}

#[test]
fn grayscale_png_is_expanded() {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(&[0, 255, 255, 0], 2, 2, image::ExtendedColorType::L8)
        .unwrap();
    let frames = decode(&out, &Limits::default()).unwrap();
    assert_eq!(
        frames[0].rgba(),
        [
            0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255
        ]
    );
}

#[test]
fn pixel_budget_skips_frames() {
    let file = ico_file(vec![
        png_entry(32, bordered(32, [1, 2, 3])),
        png_entry(16, bordered(16, [1, 2, 3])),
    ]);
    let limits = Limits {
        max_total_pixels: 1000,
        ..Limits::default()
    };
    let frames = decode(&file, &limits).unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].width(), 16);
    let limits = Limits {
        max_total_pixels: 100,
        ..Limits::default()
    };
    assert_eq!(
        decode(&file, &limits),
        Err(IconError::TooManyPixels { max: 100 })
    );
}

#[test]
fn oversized_frame_is_skipped_beside_a_good_one() {
    let file = ico_file(vec![
        png_entry(64, bordered(64, [1, 2, 3])),
        png_entry(16, bordered(16, [1, 2, 3])),
    ]);
    let limits = Limits {
        max_dimension: 32,
        ..Limits::default()
    };
    let frames = decode(&file, &limits).unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].width(), 16);
}

/// A 2×2 32-bit ICO-style BMP whose alpha bytes are all zero, blue, with
/// the AND mask `mask` (top row first) or none.
fn bmp32_without_alpha(mask: Option<[u8; 2]>) -> Vec<u8> {
    let mut bmp = vec![0u8; 40];
    bmp[0] = 40;
    bmp[4] = 2; // width
    bmp[8] = 4; // height, doubled
    bmp[12] = 1; // planes
    bmp[14] = 32; // bits per pixel
    for _ in 0..4 {
        bmp.extend_from_slice(&[255, 0, 0, 0]); // B, G, R, A
    }
    if let Some([top, bottom]) = mask {
        // Rows bottom-up, each padded to 4 bytes.
        bmp.extend_from_slice(&[bottom, 0, 0, 0, top, 0, 0, 0]);
    }
    bmp
}

#[test]
fn bmp32_with_unused_alpha_uses_the_and_mask() {
    let frames = decode(
        &ico_around(&bmp32_without_alpha(Some([0x80, 0]))),
        &Limits::default(),
    )
    .unwrap();
    let rgba = frames[0].rgba();
    assert_eq!(pixel(rgba, 2, 0, 0)[3], 0);
    assert_eq!(pixel(rgba, 2, 1, 0), [0, 0, 255, 255]);
    assert_eq!(pixel(rgba, 2, 0, 1), [0, 0, 255, 255]);
    assert_eq!(pixel(rgba, 2, 1, 1), [0, 0, 255, 255]);

    let frames = decode(&ico_around(&bmp32_without_alpha(None)), &Limits::default()).unwrap();
    assert!(
        frames[0]
            .rgba()
            .chunks_exact(4)
            .all(|p| p == [0, 0, 255, 255])
    );
}

// ---- hostile inputs ----

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid small PNG whose IHDR is rewritten (with a correct CRC) to
/// declare `width × height`.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = png_file(4, &[0; 64]);
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// An ICO whose only frame is `data`.
fn ico_around(data: &[u8]) -> Vec<u8> {
    let mut ico = vec![0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 32, 0];
    ico.extend_from_slice(&(data.len() as u32).to_le_bytes());
    ico.extend_from_slice(&22u32.to_le_bytes());
    ico.extend_from_slice(data);
    ico
}

#[test]
fn png_declaring_60000_square_is_refused_before_allocation() {
    let bomb = png_declaring(60000, 60000);
    let expected = IconError::TooLarge {
        width: 60000,
        height: 60000,
        max: 1024,
    };
    assert_eq!(
        timed(|| decode(&bomb, &Limits::default())),
        Err(expected.clone())
    );
    assert_eq!(
        timed(|| decode(&ico_around(&bomb), &Limits::default())),
        Err(expected)
    );
    // With no bound on one side, the bound on all pixels still refuses it.
    let loose = Limits {
        max_dimension: u32::MAX,
        ..Limits::default()
    };
    let err = timed(|| decode(&bomb, &loose)).unwrap_err();
    assert_eq!(
        err,
        IconError::TooManyPixels {
            max: 4 * 1024 * 1024
        }
    );
}

#[test]
fn bmp_declaring_60000_square_is_refused() {
    let mut bmp = vec![0u8; 40];
    bmp[0] = 40;
    bmp[4..8].copy_from_slice(&60000i32.to_le_bytes());
    bmp[8..12].copy_from_slice(&120000i32.to_le_bytes());
    bmp[12] = 1;
    bmp[14] = 32;
    let err = timed(|| decode(&ico_around(&bmp), &Limits::default())).unwrap_err();
    assert_eq!(
        err,
        IconError::TooLarge {
            width: 60000,
            height: 60000,
            max: 1024
        }
    );
    assert!(err.to_string().contains("60000×60000"), "{err}");
}

#[test]
fn ico_declaring_65535_frames() {
    let mut file = vec![0, 0, 1, 0, 0xff, 0xff];
    file.resize(1000, 0);
    let err = timed(|| decode(&file, &Limits::default())).unwrap_err();
    assert_eq!(
        err,
        IconError::TooManyFrames {
            count: 65535,
            max: 64
        }
    );
    // Allowed that many, the short directory is the error.
    let many = Limits {
        max_frames: 65535,
        ..Limits::default()
    };
    assert!(matches!(
        timed(|| decode(&file, &many)),
        Err(IconError::Truncated(_))
    ));
}

#[test]
fn truncated_ico() {
    let file = ico_file(vec![
        bmp_entry(16, soft(16, [1, 2, 3])),
        png_entry(32, soft(32, [4, 5, 6])),
    ]);
    assert!(matches!(
        decode(&file[..4], &Limits::default()),
        Err(IconError::Truncated(_))
    ));
    assert!(matches!(
        decode(&file[..20], &Limits::default()),
        Err(IconError::Truncated(_))
    ));
    assert!(matches!(
        decode(&file[..file.len() - 1], &Limits::default()),
        Err(IconError::Truncated(_))
    ));
    // Every cut is an error, none panics.
    timed(|| {
        for len in 0..file.len() {
            assert!(
                decode(&file[..len], &Limits::default()).is_err(),
                "cut at {len}"
            );
        }
    });
}

#[test]
fn truncated_frame_data_is_an_error() {
    // The directory agrees with the data, but the PNG inside is cut short.
    let png = png_file(16, &bordered(16, [1, 2, 3]));
    let err =
        timed(|| decode(&ico_around(&png[..png.len() - 20]), &Limits::default())).unwrap_err();
    assert!(matches!(err, IconError::Malformed(_)), "{err}");
    let err = decode(&png[..png.len() - 20], &Limits::default()).unwrap_err();
    assert!(matches!(err, IconError::Malformed(_)), "{err}");
}

#[test]
fn empty_ico_and_random_bytes() {
    assert_eq!(
        decode(&[0, 0, 1, 0, 0, 0], &Limits::default()),
        Err(IconError::NoFrames)
    );
    assert_eq!(
        decode(&[], &Limits::default()),
        Err(IconError::UnknownFormat)
    );
    let mut state = 0x1234_5678_9abc_def0u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    assert_eq!(
        timed(|| decode(&random, &Limits::default())),
        Err(IconError::UnknownFormat)
    );
    let mut fake_ico = vec![0, 0, 1, 0, 3, 0];
    fake_ico.extend_from_slice(&random);
    assert!(timed(|| decode(&fake_ico, &Limits::default())).is_err());
}

#[test]
fn ten_mib_input() {
    let mut file = png_file(4, &[0; 64]);
    file.resize(10 * 1024 * 1024, 0);
    let err = timed(|| decode(&file, &Limits::default())).unwrap_err();
    assert_eq!(
        err,
        IconError::InputTooLarge {
            len: 10 * 1024 * 1024,
            max: 4 * 1024 * 1024
        }
    );
}

#[test]
fn errors_read_clearly() {
    let err = IconError::TooManyFrames {
        count: 65535,
        max: 64,
    };
    assert_eq!(
        err.to_string(),
        "ICO file declares 65535 images, more than the limit of 64"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode(&bytes, &Limits::default());
    }

    #[test]
    fn decode_never_panics_on_ico_like(count in 0u16..8, body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = vec![0, 0, 1, 0];
        bytes.extend_from_slice(&count.to_le_bytes());
        bytes.extend_from_slice(&body);
        let _ = decode(&bytes, &Limits::default());
    }

    #[test]
    fn decode_never_panics_on_damaged_icons(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut file = ico_file(vec![
            bmp_entry(16, bordered(16, [9, 9, 9])),
            bmp_entry(24, soft(24, [9, 8, 7])),
            png_entry(32, soft(32, [1, 2, 3])),
        ]);
        for (at, value) in flips {
            let i = at.index(file.len());
            file[i] = value;
        }
        if let Ok(frames) = decode(&file, &Limits::default()) {
            for (size, png) in render_theme_pngs(&frames, &THEME_SIZES) {
                prop_assert!(size <= 64);
                prop_assert!(png.starts_with(b"\x89PNG"));
            }
        }
    }
}
