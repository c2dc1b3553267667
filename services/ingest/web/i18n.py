"""Interface strings: Bahasa Indonesia first, English available (?lang=en, remembered in a cookie)."""
from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "app_title": {"id": "Waspada — Satgas TPPO Cilacap", "en": "Waspada — Cilacap TPPO task force"},
    "sign_in": {"id": "Masuk", "en": "Sign in"},
    "sign_out": {"id": "Keluar", "en": "Sign out"},
    "token": {"id": "Token akses", "en": "Access token"},
    "token_help": {"id": "Tempel token yang diberikan admin.", "en": "Paste the token an admin gave you."},
    "bad_token": {"id": "Token tidak dikenal atau sudah dicabut.", "en": "Unknown or revoked token."},
    "new_report": {"id": "Laporan baru", "en": "New report"},
    "my_reports": {"id": "Laporan saya", "en": "My reports"},
    "channel": {"id": "Saluran", "en": "Channel"},
    "agency_names": {"id": "Nama agen / perusahaan", "en": "Agency / company names"},
    "recruiter_names": {"id": "Nama perekrut / calo", "en": "Recruiter names"},
    "phones": {"id": "Nomor telepon / WhatsApp perekrut", "en": "Recruiter phone / WhatsApp numbers"},
    "emails": {"id": "Email perekrut", "en": "Recruiter emails"},
    "urls": {"id": "Tautan (iklan, situs)", "en": "Links (ads, sites)"},
    "social_handles": {"id": "Akun media sosial", "en": "Social media handles"},
    "license_numbers": {"id": "Nomor izin yang disebut", "en": "Licence numbers mentioned"},
    "ad_text": {"id": "Teks iklan / keterangan", "en": "Ad text / account"},
    "destination_country": {"id": "Negara tujuan", "en": "Destination country"},
    "kecamatan": {"id": "Kecamatan", "en": "Kecamatan (district)"},
    "desa": {"id": "Desa / kelurahan", "en": "Desa / kelurahan (village)"},
    "victim_count": {"id": "Jumlah korban", "en": "Number of victims"},
    "minors": {"id": "Ada anak (di bawah 18 tahun)", "en": "Minors (under 18) involved"},
    "reporter": {"id": "Pelapor (rahasia)", "en": "Reporter (confidential)"},
    "reporter_name": {"id": "Nama pelapor", "en": "Reporter's name"},
    "reporter_phone": {"id": "Telepon pelapor", "en": "Reporter's phone"},
    "confidential_note": {
        "id": "Identitas pelapor dirahasiakan (UU 21/2007, UU 27/2022): tidak dikirim ke instansi, "
              "tidak muncul di SMS atau email, hanya admin yang dapat melihat dan setiap akses dicatat.",
        "en": "The reporter's identity stays confidential (UU 21/2007, UU 27/2022): never sent to agencies, "
              "never in SMS or email; only admins can see it and every look is recorded."},
    "add_more": {"id": "Tambah", "en": "Add another"},
    "remove": {"id": "Hapus", "en": "Remove"},
    "submit": {"id": "Kirim laporan", "en": "Submit report"},
    "choose": {"id": "— pilih —", "en": "— choose —"},
    "fix_errors": {"id": "Periksa isian yang ditandai.", "en": "Please fix the marked fields."},
    "tracking_id": {"id": "Nomor lacak", "en": "Tracking id"},
    "timeline": {"id": "Perkembangan", "en": "Timeline"},
    "received": {"id": "Diterima", "en": "Received"},
    "screened": {"id": "Diperiksa", "en": "Screened"},
    "matches": {"id": "Cocok dengan daftar pantau", "en": "Watchlist matches"},
    "no_matches": {"id": "Tidak ada kecocokan.", "en": "No matches."},
    "indicators": {"id": "Indikator bahaya", "en": "Red-flag indicators"},
    "alerts": {"id": "Peringatan terkirim", "en": "Alerts"},
    "no_alerts": {"id": "Belum ada peringatan.", "en": "No alerts yet."},
    "waiting": {"id": "Menunggu pemeriksaan…", "en": "Waiting for screening…"},
    "risk": {"id": "Tingkat risiko", "en": "Risk level"},
    "evidence": {"id": "Bukti", "en": "Evidence"},
    "agency": {"id": "Instansi", "en": "Agency"},
    "status": {"id": "Status", "en": "Status"},
    "score": {"id": "Skor", "en": "Score"},
    "acknowledge": {"id": "Konfirmasi diterima", "en": "Acknowledge"},
    "acknowledged": {"id": "Sudah dikonfirmasi", "en": "Acknowledged"},
    "case": {"id": "Kasus", "en": "Case"},
    "action": {"id": "Tindakan", "en": "Action"},
    "categories": {"id": "Kategori", "en": "Categories"},
    "forbidden": {"id": "Anda tidak berhak membuka halaman ini.", "en": "You may not open this page."},
    "not_found": {"id": "Tidak ditemukan.", "en": "Not found."},
    "language": {"id": "English", "en": "Bahasa Indonesia"},
    "skip": {"id": "Lompat ke isi", "en": "Skip to content"},
}


def translator(lang: str):
    def t(key: str) -> str:
        entry = STRINGS.get(key)
        return entry.get(lang, entry["id"]) if entry else key

    return t
