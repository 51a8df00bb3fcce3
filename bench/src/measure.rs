//! What a process costs: CPU time from getrusage(2) for ourselves and from /proc/PID/stat for
//! another process, resident memory from /proc/PID/status.

use std::io;
use std::time::Duration;

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeValLike;
use nix::unistd::{SysconfVar, sysconf};

/// User + system CPU time of this process, all threads.
pub fn self_cpu() -> io::Result<Duration> {
    let usage = getrusage(UsageWho::RUSAGE_SELF).map_err(io::Error::from)?;
    let us = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    Ok(Duration::from_micros(u64::try_from(us).unwrap_or(0)))
}

/// User + system CPU time of process `pid`, all its threads, from /proc/PID/stat.
pub fn proc_cpu(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (utime, stime) = parse_stat_times(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/PID/stat"))?;
    let ticks = clock_ticks()?;
    Ok(Duration::from_secs_f64(
        (utime + stime) as f64 / ticks as f64,
    ))
}

/// `utime` and `stime` (fields 14 and 15) of a /proc/PID/stat line, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat_times(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// The parent pid (field 4) of process `pid`.
pub fn proc_ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn clock_ticks() -> io::Result<u64> {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => Ok(t as u64),
        Ok(_) => Err(io::Error::other("no CLK_TCK")),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// A `Vm*:` line of /proc/PID/status (or /proc/self/status), in KiB.
pub fn status_kib(pid: Option<u32>, key: &str) -> io::Result<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path)?;
    parse_status_kib(&status, key)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {key} in status")))
}

fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// Current resident set of this process, KiB.
pub fn self_rss_kib() -> io::Result<u64> {
    status_kib(None, "VmRSS")
}

/// Peak resident set of this process so far, KiB.
pub fn self_peak_rss_kib() -> io::Result<u64> {
    status_kib(None, "VmHWM")
}

/// CPU time all processes of the machine spent busy (every field of /proc/stat's `cpu` line but
/// idle and iowait), in clock ticks turned into time.
pub fn machine_busy() -> io::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks = parse_machine_busy(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/stat"))?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / clock_ticks()? as f64,
    ))
}

fn parse_machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    let busy = fields.iter().take(8).sum::<u64>() - fields.get(3)? - fields.get(4)?;
    Some(busy)
}

/// Tells how much CPU the rest of the machine (other people's builds, other benchmarks) took
/// while a phase ran: figures taken on a busy machine are worth less, and the report says so.
#[derive(Debug, Clone, Copy)]
pub struct MachineLoad {
    busy: Duration,
}

impl MachineLoad {
    pub fn start() -> io::Result<MachineLoad> {
        Ok(MachineLoad {
            busy: machine_busy()?,
        })
    }

    /// CPU seconds spent by processes other than those whose CPU time is `ours`.
    pub fn others_since(&self, ours: Duration) -> io::Result<f64> {
        let busy = machine_busy()?.saturating_sub(self.busy);
        Ok(busy.saturating_sub(ours).as_secs_f64())
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_read_after_a_command_name_with_spaces_and_parentheses() {
        let line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 4 0";
        assert_eq!(parse_stat_times(line), Some((1234, 567)));
    }

    #[test]
    fn status_lines_give_kib() {
        let status = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(10_240));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(20_480));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 7 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n";
        assert_eq!(parse_machine_busy(stat), Some(161));
        assert!(machine_busy().is_ok());
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        assert!(self_rss_kib().expect("rss") > 0);
        assert!(self_peak_rss_kib().expect("hwm") >= self_rss_kib().expect("rss") / 2);
        let pid = std::process::id();
        let _ = proc_cpu(pid).expect("own stat");
        assert!(self_cpu().is_ok());
        assert!(proc_ppid(pid).is_some());
    }
}
