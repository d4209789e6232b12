//! `mrc decode`: show what the codec reads in a packet, a pcap file or the built-in samples.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use anyhow::{Context, Result};
use mrc_wire::usid::Carrier;
use mrc_wire::{mrc, pcap, rc, sample, stack, udp};

use crate::bad_input;

/// Flags of `mrc decode`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Hex bytes of one packet: a whole IPv6 datagram, or an MRC packet (BTH onwards) with
    /// `--mrc`. Spaces and colons are ignored.
    hex: Vec<String>,
    /// The hex bytes start at the BTH (no IPv6/UDP headers).
    #[arg(long)]
    mrc: bool,
    /// Decode every record of a pcap file (link type raw IP or IPv6).
    #[arg(long, value_name = "FILE", conflicts_with = "hex")]
    pcap: Option<PathBuf>,
    /// Decode the built-in samples: every opcode and NACK reason, SRv6-encapsulated.
    #[arg(long, conflicts_with_all = ["hex", "pcap"])]
    demo: bool,
    /// With --demo: also write the samples to a pcap file (open it with
    /// `wireshark -X lua_script:tools/wireshark/mrc.lua FILE`).
    #[arg(long, value_name = "FILE", requires = "demo")]
    write_pcap: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    if args.demo {
        return demo(args.write_pcap.as_ref());
    }
    if let Some(path) = &args.pcap {
        return decode_pcap(path);
    }
    if args.hex.is_empty() {
        bad_input!("mrc decode: give hex bytes, --pcap FILE or --demo (see mrc decode --help)");
    }
    let bytes = parse_hex(&args.hex.join(""))?;
    if args.mrc {
        let (repr, payload) = match mrc::Repr::parse_bytes(&bytes) {
            Ok(parsed) => parsed,
            Err(e) => bad_input!("hex bytes: not an MRC packet: {e}"),
        };
        println!("{repr}");
        println!("  payload {} bytes", payload.len());
    } else {
        match stack::Repr::parse(&bytes, true) {
            Ok((repr, _)) => print_datagram(&repr),
            Err(_) if let Ok((d, _)) = rc::Datagram::parse(&bytes) => print_rc(&d),
            Err(e) => bad_input!(
                "hex bytes: not an IPv6/UDP/MRC datagram: {e} (use --mrc for bare MRC packets)"
            ),
        }
    }
    Ok(())
}

fn parse_hex(text: &str) -> Result<Vec<u8>> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '\n' | '\t'))
        .collect();
    let digits = digits.strip_prefix("0x").unwrap_or(&digits);
    if !digits.len().is_multiple_of(2) || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        bad_input!(
            "hex bytes: expected an even number of hex digits, got {:?}",
            digits
        );
    }
    Ok((0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap_or_default())
        .collect())
}

fn print_datagram(repr: &stack::Repr) {
    let ev = udp::stev_decode(
        repr.udp.src_port,
        repr.inner.unwrap_or(repr.outer).flow_label,
    );
    println!("  {}", repr.mrc);
    let outer = repr.outer.dst;
    match (Carrier::from_addr(outer), repr.inner) {
        (Ok(c), Some(inner)) => {
            let usids: Vec<String> = c.usids().iter().map(|u| format!("{u:04x}")).collect();
            println!(
                "    {} -> {}  via SRv6 {outer} (uSIDs {})  EV {ev:#010x}",
                inner.src,
                inner.dst,
                usids.join(" ")
            );
        }
        _ => println!(
            "    {} -> {}  EV {ev:#010x}",
            repr.outer.src,
            repr.final_destination()
        ),
    }
}

/// A RoCEv2 packet of the RoCE baseline (RC opcodes, CNP).
fn print_rc(d: &rc::Datagram) {
    println!("  RoCEv2 {}", d.rc);
    println!("    {} -> {}", d.ip.src, d.ip.dst);
}

fn demo(write_pcap: Option<&PathBuf>) -> Result<()> {
    let samples = sample::all();
    let mut writer = match write_pcap {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            Some(pcap::Writer::new(BufWriter::new(file), 65_535)?)
        }
        None => None,
    };
    println!(
        "{} sample MRC datagrams (SRv6 path fd00::a -> fd00::b, plane 0, T1 5):",
        samples.len()
    );
    for (i, s) in samples.iter().enumerate() {
        let bytes = s.repr.to_bytes(&s.payload)?;
        // Decode the bytes again: what is printed is what the codec read, not what was built.
        let (parsed, _) = stack::Repr::parse(&bytes, true)?;
        println!("#{:<2} {} ({} bytes)", i + 1, s.what, bytes.len());
        print_datagram(&parsed);
        if let Some(w) = &mut writer {
            w.write_packet(1_000 * i as u64, &bytes, bytes.len())?;
        }
    }
    if let (Some(w), Some(path)) = (writer, write_pcap) {
        w.into_inner()?;
        println!(
            "wrote {} (tshark -X lua_script:tools/wireshark/mrc.lua -r {} -V)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn decode_pcap(path: &PathBuf) -> Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => bad_input!("{}: cannot open: {e}", path.display()),
    };
    let mut reader = match pcap::Reader::new(BufReader::new(file)) {
        Ok(r) => r,
        Err(e) => bad_input!("{}: {e}", path.display()),
    };
    let mut n = 0u64;
    loop {
        let rec = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            // A malformed or cut file is bad input; a failing disk is not.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                bad_input!("{}: record {}: {e}", path.display(), n + 1)
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        n += 1;
        let t = rec.time_ns;
        print!("#{n:<4} {}.{:09}s ", t / 1_000_000_000, t % 1_000_000_000);
        if (rec.data.len() as u32) < rec.orig_len {
            println!(
                "captured {} of {} bytes (trimmed or cut by snaplen): not decoded",
                rec.data.len(),
                rec.orig_len
            );
            continue;
        }
        match stack::Repr::parse(&rec.data, true) {
            Ok((repr, _)) => {
                println!();
                print_datagram(&repr);
            }
            Err(e) => match rc::Datagram::parse(&rec.data) {
                Ok((d, _)) => {
                    println!();
                    print_rc(&d);
                }
                Err(_) => println!("not an MRC datagram ({e}), {} bytes", rec.data.len()),
            },
        }
    }
    println!("{n} records");
    Ok(())
}
