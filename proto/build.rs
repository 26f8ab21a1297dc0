//! Compiles every `.proto` under `asurso/` with protox (pure Rust, so a fresh
//! machine needs no system `protoc`) and generates prost messages and tonic
//! services into OUT_DIR, plus the encoded descriptor set for reflection.

use std::{
    env, fs, io,
    path::{Path, PathBuf},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let mut files = Vec::new();
    collect_protos(&root.join("asurso"), &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed={}", root.join("asurso").display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let relative: Vec<PathBuf> = files
        .iter()
        .map(|file| file.strip_prefix(&root).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&relative)?;

    fs::write(
        out_dir.join("asurso_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // Type names (prost::Name) let events travel as google.protobuf.Any.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .include_file("asurso.rs")
        .emit_rerun_if_changed(false)
        .compile_fds_with_config(compiler.file_descriptor_set(), config)?;
    Ok(())
}

fn collect_protos(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
