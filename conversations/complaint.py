"""The resident's report: a clean-water problem, another complaint, an aspiration or a
request for information. Categories follow DESIGN §4; the lifecycle follows SP4N-LAPOR!.
"""

from __future__ import annotations

from conversations.flow import (
    All,
    Answered,
    Constraint,
    Eq,
    Flow,
    Not,
    Option,
    Step,
    StepType,
)

WATER_CATEGORIES = (
    Option("mati", "complaint.cat.mati", ("mati", "tidak mengalir", "gak ngalir", "ga ngalir")),
    Option("debit", "complaint.cat.debit", ("kecil", "lemah", "ngocor dikit")),
    Option("keruh", "complaint.cat.keruh", ("kotor", "keruh", "butek", "coklat")),
    Option("bau", "complaint.cat.bau", ("bau", "amis", "kaporit")),
    Option("asin", "complaint.cat.asin", ("asin", "payau")),
    Option("pompa", "complaint.cat.pompa", ("pompa", "sumur bor", "mesin")),
    Option("bocor", "complaint.cat.bocor", ("bocor", "pipa", "keran")),
    Option("kering", "complaint.cat.kering", ("kering", "sumur")),
    Option("antrean", "complaint.cat.antrean", ("antri", "antre", "jadwal", "tangki")),
    Option("lainnya", "complaint.cat.lainnya", ("lain", "lainnya")),
)

STATUSES = ("diterima", "diverifikasi", "diproses", "selesai", "ditolak")

IS_WATER = Eq("jenis", "air")

COMPLAINT = Flow(
    id="complaint",
    version=1,
    title="complaint.title",
    summary_intro="complaint.summary_intro",
    steps=(
        Step(
            "jenis",
            StepType.SELECT_ONE,
            "complaint.jenis.label",
            "complaint.jenis.title",
            choices=(
                Option("air", "complaint.jenis.air", ("air", "air bersih", "pdam")),
                Option("keluhan", "complaint.jenis.keluhan", ("keluhan", "aduan", "pengaduan")),
                Option("aspirasi", "complaint.jenis.aspirasi", ("usul", "usulan", "saran")),
                Option("informasi", "complaint.jenis.informasi", ("info", "tanya")),
            ),
        ),
        Step(
            "kategori",
            StepType.SELECT_ONE,
            "complaint.kategori.label",
            "complaint.kategori.title",
            relevant=IS_WATER,
            choices=WATER_CATEGORIES,
        ),
        Step(
            "uraian",
            StepType.TEXT,
            "complaint.uraian.label",
            "complaint.uraian.title",
            constraint=Constraint(min_length=3, max_length=1000),
        ),
        Step(
            "sejak",
            StepType.DATE,
            "complaint.sejak.label",
            "complaint.sejak.title",
            relevant=IS_WATER,
            constraint=Constraint(not_future=True),
            hint="complaint.sejak.hint",
        ),
        Step(
            "jumlah_kk",
            StepType.INTEGER,
            "complaint.jumlah_kk.label",
            "complaint.jumlah_kk.title",
            relevant=IS_WATER,
            constraint=Constraint(min_value=1, max_value=5000,
                                  message="complaint.jumlah_kk.range"),
        ),
        Step(
            "lokasi",
            StepType.GEOPOINT,
            "complaint.lokasi.label",
            "complaint.lokasi.title",
            required=False,
        ),
        Step("kelurahan", StepType.KELURAHAN, "complaint.kelurahan.label",
             "complaint.kelurahan.title"),
        Step("rt_rw", StepType.RT_RW, "complaint.rt_rw.label", "complaint.rt_rw.title",
             hint="complaint.rt_rw.hint"),
        Step(
            "patokan",
            StepType.TEXT,
            "complaint.patokan.label",
            "complaint.patokan.title",
            required=False,
            constraint=Constraint(max_length=200),
        ),
        Step("foto", StepType.IMAGE, "complaint.foto.label", "complaint.foto.title",
             required=False),
        Step("boleh_dihubungi", StepType.YES_NO, "complaint.kontak.label",
             "complaint.kontak.title"),
        Step(
            "telepon",
            StepType.PHONE,
            "complaint.telepon.label",
            "complaint.telepon.title",
            required=False,
            relevant=All((Eq("boleh_dihubungi", True), Not(Answered("_phone")))),
        ),
    ),
)
