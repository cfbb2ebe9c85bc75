"""The 48 data categories of catalogue §2: id, source department, delivery mode and stream.

A leaf module: the validator, the router and the indicators all read the same table, so a category
is declared exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CATEGORIES", "HEADLINE_FAMILIES", "Category", "Family", "Stream", "family_of", "stream_of"]


class Stream(StrEnum):
    """Kafka input topics (contract §3.3): the four headline streams plus everything else."""

    ILLNESS = "illness"
    DISABILITY = "disability"
    UNEMPLOYMENT = "unemployment"
    DEATH = "death"
    HOUSEHOLD_DATA = "household-data"


class Family(StrEnum):
    """Alert trigger families (catalogue §4.4); one open alert per household and family."""

    ILL = "ILL"
    DIS = "DIS"
    UNEMP = "UNEMP"
    DEATH = "DEATH"
    INCOME = "INCOME"
    ASSETS = "ASSETS"
    EXPENDITURE = "EXPENDITURE"
    DISASTER = "DISASTER"
    STRUCTURE = "STRUCTURE"
    SCORE = "SCORE"


HEADLINE_FAMILIES: dict[Stream, Family] = {
    Stream.ILLNESS: Family.ILL,
    Stream.DISABILITY: Family.DIS,
    Stream.UNEMPLOYMENT: Family.UNEMP,
    Stream.DEATH: Family.DEATH,
}


@dataclass(frozen=True, slots=True)
class Category:
    """One data category: where it comes from and which topic and alert family it belongs to."""

    number: int
    id: str
    name_zh: str
    dept: str
    mode: str
    stream: Stream
    family: Family

    @property
    def headline(self) -> bool:
        """True for the four headline streams (illness, disability, unemployment, death)."""
        return self.stream is not Stream.HOUSEHOLD_DATA


_I, _D, _U, _X, _H = (Stream.ILLNESS, Stream.DISABILITY, Stream.UNEMPLOYMENT, Stream.DEATH,
                      Stream.HOUSEHOLD_DATA)
_F = Family

# (number, id, 中文, department, mode, topic stream, alert family).  A category is on a headline
# topic only when the event itself is the headline fact (a diagnosis, a certificate change, a job
# loss, a death); categories that merely feed a headline indicator stay on household-data.
_TABLE: tuple[tuple[int, str, str, str, str, Stream, Family], ...] = (
    (1, "med_settlement", "医保结算（三重保障后个人自付）", "yibao", "D", _I, _F.ILL),
    (2, "med_special_outpatient", "门诊慢特病认定", "yibao", "M", _I, _F.ILL),
    (3, "med_enrollment", "参保状态/资助参保", "yibao", "M", _H, _F.ASSETS),
    (4, "med_assistance_paid", "医疗救助支付", "yibao", "M", _H, _F.EXPENDITURE),
    (5, "med_high_cost_list", "高额医疗费用预警名单", "yibao", "M", _I, _F.ILL),
    (6, "hlth_inpatient_admission", "住院入出院记录", "weijian", "D", _I, _F.ILL),
    (7, "hlth_major_disease_dx", "重大疾病诊断（大病专项救治病种）", "weijian", "D", _I, _F.ILL),
    (8, "hlth_severe_mental_registry", "严重精神障碍患者管理", "weijian", "M", _I, _F.ILL),
    (9, "hlth_death_medical_cert", "死亡医学证明", "weijian", "D", _X, _F.DEATH),
    (10, "dis_certificate", "残疾人证（新办/等级/类别变更/注销）", "canlian", "RT", _D, _F.DIS),
    (11, "dis_two_subsidies", "残疾人两项补贴", "canlian", "M", _H, _F.DIS),
    (12, "dis_rehab_service", "康复服务/辅具适配", "canlian", "M", _H, _F.EXPENDITURE),
    (13, "hr_unemployment_registration", "失业登记", "renshe", "RT", _U, _F.UNEMP),
    (14, "hr_unemployment_benefit", "失业保险金领取", "renshe", "M", _U, _F.UNEMP),
    (15, "hr_social_insurance_contrib", "社保缴费（基数/断缴）", "renshe", "M", _H, _F.INCOME),
    (16, "hr_pension_payment", "养老金领取", "renshe", "M", _H, _F.INCOME),
    (17, "hr_work_injury", "工伤认定/伤残等级", "renshe", "M", _H, _F.DIS),
    (18, "hr_employment_service", "就业登记/援助/公益性岗位", "renshe", "M", _H, _F.UNEMP),
    (19, "hr_wage_arrears", "欠薪投诉/劳动仲裁", "renshe", "M", _H, _F.INCOME),
    (20, "ps_household_register", "户籍人口/户成员关系", "gongan", "D", _H, _F.STRUCTURE),
    (21, "ps_birth_registration", "出生登记（新生儿）", "gongan", "RT", _H, _F.STRUCTURE),
    (22, "ps_death_registration", "死亡注销", "gongan", "RT", _X, _F.DEATH),
    (23, "ps_hukou_migration", "户口迁移", "gongan", "RT", _H, _F.STRUCTURE),
    (24, "ps_vehicle_registration", "机动车登记（车管）", "gongan_jiaoguan", "M", _H, _F.ASSETS),
    (25, "ca_marriage_registration", "结婚登记", "minzheng", "RT", _H, _F.STRUCTURE),
    (26, "ca_divorce_registration", "离婚登记", "minzheng", "RT", _H, _F.STRUCTURE),
    (27, "ca_assistance_status", "救助对象状态（特困/低保/低边/刚性/渐退）", "minzheng", "D", _H, _F.STRUCTURE),
    (28, "ca_temporary_assistance", "临时救助记录", "minzheng", "D", _H, _F.STRUCTURE),
    (29, "ca_child_welfare", "孤儿/事实无人抚养/困境儿童", "minzheng", "M", _H, _F.STRUCTURE),
    (30, "ca_elderly_capacity", "老年人能力（失能）评估", "minzheng", "M", _H, _F.STRUCTURE),
    (31, "ca_economic_verification", "家庭经济状况核对报告", "minzheng_hedui", "Q", _H, _F.INCOME),
    (32, "ca_home_visit", "入户调查/走访记录", "minzheng_cunshe", "D", _H, _F.INCOME),
    (33, "ca_self_declaration", "自主申报（浙里办）", "minzheng", "D", _H, _F.INCOME),
    (34, "hs_public_housing", "公租房/租赁补贴（含欠租）", "zhujian", "M", _H, _F.EXPENDITURE),
    (35, "hs_rural_housing_safety", "农房安全鉴定（危房等级）", "zhujian", "Q", _H, _F.ASSETS),
    (36, "hs_provident_fund", "住房公积金缴存", "gongjijin", "M", _H, _F.INCOME),
    (37, "re_property_registration", "不动产登记（房产/交易/抵押/查封）", "ziranziyuan", "D", _H, _F.ASSETS),
    (38, "edu_student_status", "学籍（学段/在读）", "jiaoyu", "T", _H, _F.EXPENDITURE),
    (39, "edu_student_aid", "学生资助/控辍保学", "jiaoyu", "T", _H, _F.EXPENDITURE),
    (40, "em_disaster_loss", "受灾户灾情（倒损房屋/损失/伤亡）", "yingji", "E", _H, _F.DISASTER),
    (41, "agri_rrm_monitoring", "防止返贫监测对象/风险类型", "nongye", "M", _H, _F.STRUCTURE),
    (42, "tax_individual_income", "个人所得税/经营所得", "shuiwu", "M", _H, _F.INCOME),
    (43, "mkt_business_registration", "市场主体登记（个体户/股东/经营异常）", "shichang", "D", _H, _F.INCOME),
    (44, "court_enforcement", "被执行/失信/司法拍卖", "fayuan", "M", _H, _F.ASSETS),
    (45, "jus_inmate", "服刑/羁押/社区矫正", "sifa", "M", _H, _F.STRUCTURE),
    (46, "fin_bank_deposit", "存款余额", "bank", "Q", _H, _F.ASSETS),
    (47, "fin_securities_wealth", "证券/基金/理财", "finance", "Q", _H, _F.ASSETS),
    (48, "ut_utility_arrears", "水电燃气欠费", "utility", "M", _H, _F.EXPENDITURE),
)

CATEGORIES: dict[str, Category] = {row[1]: Category(*row) for row in _TABLE}
assert len(CATEGORIES) == 48, "catalogue §2 has 48 categories"


def stream_of(category: str) -> Stream:
    """The input topic an event of this category travels on."""
    return CATEGORIES[category].stream


def family_of(category: str) -> Family:
    """The alert trigger family an event of this category raises."""
    return CATEGORIES[category].family
