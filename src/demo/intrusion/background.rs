//! Benign background of the `intrusion` scenario: ordinary user, system, network, logon,
//! mail and service activity on every host, including the ones that get compromised.

use super::{
    CHROME, DC, Draft, EXPLORER, HOSTS, IPS, IT_WS, LSASS, Log, MSMPENG, OFFICE, POWERSHELL, Proc,
    Rng, SERVER, SERVICES, SHORT, SVCHOST, Source, USERS, WORKSTATIONS, dns, logon, net_conn, pipe,
    proc_access, proc_create, service_install, sha_hex, task_xml,
};

/// Benign activity on all hosts: `count` events spread evenly over `span` ms.
pub(super) struct Background {
    rng: Rng,
    start: i64,
    span: i64,
    index: u64,
    count: u64,
}

const WEB: &[(&str, &str)] = &[
    ("142.250.74.36", "www.google.com"),
    ("140.82.121.4", "github.com"),
    ("151.101.1.69", "stackoverflow.com"),
    ("13.107.42.14", "www.office.com"),
    ("104.18.32.7", "www.bing.com"),
    ("185.199.108.133", "raw.githubusercontent.com"),
];
const UPDATES: &[(&str, &str)] = &[
    ("13.107.4.50", "download.windowsupdate.com"),
    ("20.72.235.82", "settings-win.data.microsoft.com"),
    ("52.113.194.132", "teams.microsoft.com"),
    ("40.126.32.74", "login.microsoftonline.com"),
];
const SERVICES_LIST: &[&str] = &[
    "Schedule",
    "wuauserv",
    "BITS",
    "Dnscache",
    "LanmanWorkstation",
    "gpsvc",
];
const DOCS: &[&str] = &[
    "Q2_report.docx",
    "minutes_2024-05.docx",
    "budget_FY25.xlsx",
    "onboarding.docx",
];

impl Source for Background {
    fn next_draft(&mut self) -> Option<Draft> {
        if self.index >= self.count {
            return None;
        }
        let slot = self.span.max(1) as i128 * i128::from(self.index) / i128::from(self.count);
        let width = (self.span as u64 / self.count).max(1);
        let t = self.start + slot as i64 + self.rng.below(width) as i64;
        self.index += 1;
        Some(self.event(t))
    }
}

impl Background {
    pub(super) fn new(rng: Rng, start: i64, span: i64, count: u64) -> Self {
        Self {
            rng,
            start,
            span,
            index: 0,
            count,
        }
    }

    fn event(&mut self, t: i64) -> Draft {
        let r = &mut self.rng;
        let host = r.weighted(&[14, 14, 14, 14, 14, 15, 15]);
        let ws = host < WORKSTATIONS;
        let user = if ws {
            USERS[host]
        } else {
            *r.pick(&["it.admin", "svc-backup"])
        };
        match r.weighted(&[22, 10, 20, 15, 15, 4, 5, 4, 3, 2]) {
            0 if ws => user_process(t, host, user, r),
            0 | 1 => system_process(t, host, r),
            2 => {
                let (p, dst, port) = match r.below(4) {
                    0 => (
                        Proc::new(r, SVCHOST, "svchost.exe")
                            .cmd("C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s wuauserv"),
                        *r.pick(UPDATES),
                        443,
                    ),
                    1 if ws => (
                        Proc::new(r, CHROME, "chrome.exe").for_user(user),
                        *r.pick(WEB),
                        443,
                    ),
                    2 if ws => (
                        Proc::new(r, EXPLORER, "EXPLORER.EXE").for_user(user),
                        (IPS[SERVER], HOSTS[SERVER]),
                        445,
                    ),
                    // Kerberos is spoken by lsass itself; LDAP/SMB by the kernel.
                    _ if r.chance(300) => (
                        Proc::new(r, "C:\\Windows\\System32\\lsass.exe", "lsass.exe"),
                        (IPS[DC], HOSTS[DC]),
                        88,
                    ),
                    _ => (
                        Proc::new(r, "System", "").cmd(""),
                        (IPS[DC], HOSTS[DC]),
                        *r.pick(&[389, 445]),
                    ),
                };
                net_conn(t, host, &p, dst, port, r)
            }
            3 => {
                let (p, (ip, name)) = if ws && r.chance(600) {
                    (
                        Proc::new(r, CHROME, "chrome.exe").for_user(user),
                        *r.pick(WEB),
                    )
                } else if r.chance(500) {
                    (Proc::new(r, SVCHOST, "svchost.exe"), *r.pick(UPDATES))
                } else {
                    (
                        Proc::new(r, SVCHOST, "svchost.exe"),
                        (IPS[DC], "_ldap._tcp.dc._msdcs.corp.example"),
                    )
                };
                dns(t, host, &p, name, ip)
            }
            4 => {
                if ws && r.chance(400) {
                    logon(t, host, 4624, user, *r.pick(&[2, 7, 11]), host, r)
                } else {
                    let from = r.below(WORKSTATIONS as u64) as usize;
                    let target = if r.chance(500) { SERVER } else { DC };
                    let eid = if r.chance(650) { 4624 } else { 4634 };
                    logon(t, target, eid, USERS[from], 3, from, r)
                }
            }
            5 => {
                let av = Proc::new(r, MSMPENG, "MsMpEng.exe");
                let lsass = Proc::new(r, LSASS, "lsass.exe");
                let trace = "C:\\Windows\\SYSTEM32\\ntdll.dll+9f4f4|C:\\Windows\\System32\\KERNELBASE.dll+3e4b4|C:\\ProgramData\\Microsoft\\Windows Defender\\Definition Updates\\{4E8B3C2A-0B21-4F1E-9D61-2C7C5A1B9E10}\\mpengine.dll+4b1d2a";
                let mask = *r.pick(&["0x1000", "0x1400"]);
                proc_access(t, host, &av, &lsass, mask, trace)
            }
            6 => benign_email(t, r),
            7 => {
                let svc = *r.pick(&[
                    "Windows Update",
                    "Background Intelligent Transfer Service",
                    "Windows Modules Installer",
                ]);
                Draft::new(t, host, Log::System, 7036)
                    .f("param1", svc)
                    .f("param2", *r.pick(&["running", "stopped"]))
            }
            8 if ws => {
                let p = Proc::new(r, CHROME, "chrome.exe").for_user(user);
                let name = format!("\\mojo.{}.{}.{}", p.pid, r.range(1, 40), r.next_u64() >> 1);
                pipe(t, host, 17, &p, &name)
            }
            _ => {
                if r.chance(500) {
                    service_install(
                        t,
                        host,
                        "GoogleChromeElevationService",
                        "\"C:\\Program Files\\Google\\Chrome\\Application\\131.0.6778.86\\elevation_service.exe\"",
                    )
                } else {
                    Draft::new(t, host, Log::Security, 4698)
                        .f("SubjectUserSid", "S-1-5-18")
                        .f("SubjectUserName", format!("{}$", SHORT[host]))
                        .f("SubjectDomainName", "CORP")
                        .f("TaskName", "\\Microsoft\\Office\\Office Automatic Updates 2.0")
                        .f(
                            "TaskContent",
                            task_xml(
                                "C:\\Program Files\\Common Files\\Microsoft Shared\\ClickToRun\\OfficeC2RClient.exe",
                                "/frequentupdate SCHEDULEDTASK displaylevel=False",
                                "<CalendarTrigger><StartBoundary>2024-01-01T03:00:00</StartBoundary></CalendarTrigger>",
                            ),
                        )
                }
            }
        }
    }
}

fn user_process(t: i64, host: usize, user: &str, r: &mut Rng) -> Draft {
    let explorer = Proc::new(r, EXPLORER, "EXPLORER.EXE").for_user(user);
    let outlook = Proc::new(r, format!("{OFFICE}OUTLOOK.EXE"), "Outlook.exe").for_user(user);
    let (p, parent) = match r.below(7) {
        0 => (Proc::new(r, CHROME, "chrome.exe").for_user(user), explorer),
        1 => {
            let parent = Proc::new(r, CHROME, "chrome.exe").for_user(user);
            let child = Proc::new(r, CHROME, "chrome.exe")
                .for_user(user)
                .cmd(format!(
                    "\"{CHROME}\" --type=renderer --lang=en-US --renderer-client-id={}",
                    r.range(5, 90)
                ));
            (child, parent)
        }
        2 => {
            let teams =
                format!("C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe");
            (Proc::new(r, teams, "Teams.exe").for_user(user), explorer)
        }
        3 => (outlook, explorer),
        4 => {
            let doc = *r.pick(DOCS);
            let (exe, orig) = if doc.ends_with(".xlsx") {
                ("EXCEL.EXE", "Excel.exe")
            } else {
                ("WINWORD.EXE", "WinWord.exe")
            };
            let p = Proc::new(r, format!("{OFFICE}{exe}"), orig)
                .for_user(user)
                .cmd(format!(
                    "\"{OFFICE}{exe}\" /n \"\\\\{}\\Shares\\{doc}\"",
                    SHORT[SERVER]
                ));
            (p, explorer)
        }
        5 => {
            let word = Proc::new(r, format!("{OFFICE}WINWORD.EXE"), "WinWord.exe").for_user(user);
            (
                Proc::new(r, "C:\\Windows\\splwow64.exe", "splwow64.exe")
                    .for_user(user)
                    .cmd("C:\\Windows\\splwow64.exe 12288"),
                word,
            )
        }
        _ => {
            let acro = "C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\Acrobat.exe";
            let p = Proc::new(r, acro, "Acrobat.exe").for_user(user).cmd(format!(
                "\"{acro}\" \"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\8HF3K2LQ\\statement_{}.pdf\"",
                r.range(100, 999)
            ));
            (p, outlook)
        }
    };
    proc_create(t, host, &p, &parent)
}

fn system_process(t: i64, host: usize, r: &mut Rng) -> Draft {
    let services = Proc::new(r, SERVICES, "services.exe");
    let sched = Proc::new(r, SVCHOST, "svchost.exe")
        .cmd("C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule");
    let (p, parent) = match r.below(4) {
        0 => {
            let svc = *r.pick(SERVICES_LIST);
            (
                Proc::new(r, SVCHOST, "svchost.exe").cmd(format!(
                    "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s {svc}"
                )),
                services,
            )
        }
        1 => (
            Proc::new(r, "C:\\Windows\\System32\\taskhostw.exe", "taskhostw.exe")
                .cmd("taskhostw.exe Install $(Arg0)"),
            sched,
        ),
        // The admin's interactive shell: PowerShell, but neither encoded nor spawned by Office.
        2 if host == IT_WS => (
            Proc::new(r, POWERSHELL, "PowerShell.EXE").for_user(USERS[IT_WS]),
            Proc::new(r, EXPLORER, "EXPLORER.EXE").for_user(USERS[IT_WS]),
        ),
        _ => (
            Proc::new(
                r,
                "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
                "Wmiprvse.exe",
            )
            .cmd("C:\\Windows\\system32\\wbem\\wmiprvse.exe -Embedding"),
            sched,
        ),
    };
    proc_create(t, host, &p, &parent)
}

fn benign_email(t: i64, r: &mut Rng) -> Draft {
    let to = format!("{}@corp.example", r.pick(USERS));
    let (from, subject, attachment) = match r.below(4) {
        0 => (
            "billing@contoso.example",
            "Your May statement",
            Some("statement_May.pdf"),
        ),
        1 => (
            "hr@corp.example",
            "Updated travel policy",
            Some("travel_policy_2024.pdf"),
        ),
        2 => (
            "pm@fabrikam.example",
            "Project timeline",
            Some("timeline.xlsx"),
        ),
        _ => ("news@tailspin-toys.example", "This week at Tailspin", None),
    };
    let d = Draft::new(t, 0, Log::Email, 0)
        .f(
            "MessageId",
            format!(
                "<{:016x}@{}>",
                r.next_u64(),
                from.split('@').nth(1).unwrap_or("mail")
            ),
        )
        .f("From", from)
        .f("ReplyTo", from)
        .f("To", to)
        .f("Subject", subject)
        .f(
            "SpfResult",
            if attachment.is_none() && r.chance(300) {
                "softfail"
            } else {
                "pass"
            },
        )
        .f("DkimResult", "pass")
        .f("DmarcResult", "pass");
    match attachment {
        Some(name) => d
            .f("AttachmentName", name)
            .f("AttachmentSha256", sha_hex(name)),
        None => d.f("Url", "https://tailspin-toys.example/newsletter"),
    }
}
