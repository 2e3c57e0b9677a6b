//! `fuzz-corpus <dir>`: writes valid, correctly signed seeds for every fuzz
//! target to `<dir>/<target>/` (creating the mint keys they are signed
//! under on first use). `fuzz-corpus --list` prints the targets.

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: fuzz-corpus <dir> | --list");
        return std::process::ExitCode::from(2);
    };
    if dir.as_os_str() == "--list" {
        println!("{}", ecash_fuzz::targets::TARGETS.join("\n"));
        return std::process::ExitCode::SUCCESS;
    }
    let harness = ecash_fuzz::harness::Harness::new();
    let seeds = ecash_fuzz::corpus::seeds(&harness);
    for (target, files) in &seeds {
        let d = dir.join(target);
        if let Err(e) = std::fs::create_dir_all(&d) {
            eprintln!("fuzz-corpus: {}: {e}", d.display());
            return std::process::ExitCode::FAILURE;
        }
        for (i, bytes) in files.iter().enumerate() {
            let path = d.join(format!("seed-{i:02}"));
            if let Err(e) = std::fs::write(&path, bytes) {
                eprintln!("fuzz-corpus: {}: {e}", path.display());
                return std::process::ExitCode::FAILURE;
            }
        }
        println!("{target}: {} seeds", files.len());
    }
    std::process::ExitCode::SUCCESS
}
