//! `berth version`, `berth info` (`system info`): the engine's objects printed as Docker
//! prints them, or as JSON, or through a `-f` template.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::commands::container::human_bytes;
use crate::commands::output::print_object;
use crate::engine::system;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => crate::escape_controls(s),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn version(format: Option<&str>) -> Result<()> {
    print_object(&system::version(), format, |v| {
        let c = &v["Client"];
        println!("Client:");
        println!(" {:<19}{}", "Version:", s(&c["Version"]));
        println!(" {:<19}{}/{}", "OS/Arch:", s(&c["Os"]), s(&c["Arch"]));
        println!();
        let sv = &v["Server"];
        println!("Server: {}", s(&sv["Platform"]["Name"]));
        for comp in sv["Components"].as_array().into_iter().flatten() {
            println!(" {}:", s(&comp["Name"]));
            println!("  {:<18}{}", "Version:", s(&comp["Version"]));
            let d = &comp["Details"];
            if d.get("Os").is_some() {
                println!("  {:<18}{}/{}", "OS/Arch:", s(&d["Os"]), s(&d["Arch"]));
            }
            for (label, key) in [
                ("Kernel Version:", "KernelVersion"),
                ("Cgroup Version:", "CgroupVersion"),
                ("Cgroup Driver:", "CgroupDriver"),
                ("Storage Driver:", "StorageDriver"),
            ] {
                if let Some(x) = d.get(key) {
                    println!("  {label:<18}{}", s(x));
                }
            }
        }
    })
}

pub fn info(root: &Path, format: Option<&str>) -> Result<()> {
    let mut v = system::info(root)?;
    if format == Some("json") {
        // Docker's `info --format json` carries the client's part too.
        v["ClientInfo"] = serde_json::json!({"Version": system::VERSION, "Debug": v["Debug"]});
    }
    print_object(&v, format, |v| {
        println!("Client:");
        println!(" Version:    {}", system::VERSION);
        println!(" Debug Mode: {}", s(&v["Debug"]));
        println!();
        println!("Server:");
        println!(" Containers: {}", s(&v["Containers"]));
        println!("  Running: {}", s(&v["ContainersRunning"]));
        println!("  Paused: {}", s(&v["ContainersPaused"]));
        println!("  Stopped: {}", s(&v["ContainersStopped"]));
        println!(" Images: {}", s(&v["Images"]));
        println!(" Server Version: {}", s(&v["ServerVersion"]));
        println!(" Storage Driver: {}", s(&v["Driver"]));
        println!(" Logging Driver: {}", s(&v["LoggingDriver"]));
        println!(" Cgroup Driver: {}", s(&v["CgroupDriver"]));
        println!(" Cgroup Version: {}", s(&v["CgroupVersion"]));
        println!(" Runtimes: {}", s(&v["DefaultRuntime"]));
        println!(" Default Runtime: {}", s(&v["DefaultRuntime"]));
        println!(" Security Options:");
        println!("  seccomp");
        println!("   Profile: builtin");
        println!(" Kernel Version: {}", s(&v["KernelVersion"]));
        println!(" Operating System: {}", s(&v["OperatingSystem"]));
        println!(" OSType: {}", s(&v["OSType"]));
        println!(" Architecture: {}", s(&v["Architecture"]));
        println!(" CPUs: {}", s(&v["NCPU"]));
        println!(
            " Total Memory: {}",
            human_bytes(v["MemTotal"].as_u64().unwrap_or(0))
        );
        println!(" Name: {}", s(&v["Name"]));
        println!(" Root Dir: {}", s(&v["DockerRootDir"]));
        println!(" Debug Mode: {}", s(&v["Debug"]));
    })
}
