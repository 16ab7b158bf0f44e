//! Layer compression: which decoder a media type (or, for docker-archive
//! layers that carry no media type, the first bytes) calls for.

use std::io::{self, BufRead, BufReader, Read};

use crate::error::{ImageError, Result};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// zstd frames.
    Zstd,
}

/// OCI and Docker v2 schema 2 layer media types berth reads.
pub fn from_media_type(media_type: &str, object: &str) -> Result<Compression> {
    Ok(match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Compression::None,
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
        | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Compression::Zstd,
        other => {
            return Err(ImageError::UnsupportedMediaType {
                object: object.to_string(),
                media_type: other.to_string(),
            })
        }
    })
}

/// Sniffs the compression from the first bytes.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The OCI media type for a layer compressed so.
pub fn oci_media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// Sniffs `r` without consuming it, returning the buffered reader.
pub fn sniff_reader<R: Read>(r: R) -> io::Result<(Compression, BufReader<R>)> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let c = sniff(br.fill_buf()?);
    Ok((c, br))
}

/// The uncompressed stream. Multi-member gzip and multi-frame zstd read to
/// the end of the input, so a verifying reader below sees its whole blob.
pub fn decompress<'a, R: Read + 'a>(r: R, c: Compression) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(r))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
    })
}

/// How a whole archive stream is compressed (`load`, `import`, ADD of a
/// local tar): the set docker's daemon sniffs for (gzip, bzip2, xz, zstd).
/// Layers keep to [`Compression`], the ones a media type can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// Not compressed (maybe a tar, maybe not).
    Plain,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// Sniffs an archive stream's compression from its first bytes (the
/// magic numbers docker's `DetectCompression` checks).
pub fn sniff_stream(head: &[u8]) -> StreamFormat {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        StreamFormat::Gzip
    } else if head.starts_with(b"BZh") {
        StreamFormat::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        StreamFormat::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        StreamFormat::Zstd
    } else {
        StreamFormat::Plain
    }
}

/// The decompressed stream of `r` and what it was compressed with.
/// Multi-member gzip, bzip2 and xz streams and multi-frame zstd are read
/// to the end (what `gzip`/`bzip2`/`xz` write for concatenated files).
pub fn open_stream<'a, R: Read + 'a>(r: R) -> io::Result<(StreamFormat, Box<dyn Read + 'a>)> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let f = sniff_stream(br.fill_buf()?);
    let out: Box<dyn Read + 'a> = match f {
        StreamFormat::Plain => Box::new(br),
        StreamFormat::Gzip => Box::new(flate2::read::MultiGzDecoder::new(br)),
        StreamFormat::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(br)),
        StreamFormat::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(br)),
        StreamFormat::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
    };
    Ok((f, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn round_trip(f: StreamFormat, packed: Vec<u8>) {
        let (got, mut r) = open_stream(&packed[..]).expect("open");
        assert_eq!(got, f);
        let mut s = String::new();
        r.read_to_string(&mut s).expect("read");
        assert_eq!(s, "hello archive");
    }

    #[test]
    fn every_stream_format_is_sniffed_and_decoded() {
        let text = b"hello archive";
        round_trip(StreamFormat::Plain, text.to_vec());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text).expect("gz");
        round_trip(StreamFormat::Gzip, gz.finish().expect("gz"));
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(text).expect("bz");
        round_trip(StreamFormat::Bzip2, bz.finish().expect("bz"));
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(text).expect("xz");
        round_trip(StreamFormat::Xz, xz.finish().expect("xz"));
        round_trip(
            StreamFormat::Zstd,
            zstd::encode_all(&text[..], 1).expect("zstd"),
        );
    }

    #[test]
    fn a_corrupt_bzip2_stream_is_an_error() {
        let (_, mut r) = open_stream(&b"BZh9garbage-not-bzip2"[..]).expect("open");
        let mut v = Vec::new();
        assert!(r.read_to_end(&mut v).is_err());
    }
}
