"""``tidings bench search``: ``message.search`` over a large store.

Load (per engine, on a fresh database): ``users`` senders and ``searchers``
searching users are written straight into ``users`` (no password hashing);
``chats`` groups are created through the chat service, each with ``members``
random senders, every searcher in ``user_chats`` random chats and, with
``heavy``, one more user in every chat. Then ``messages`` messages (mixed
Chinese, English and mixed-script text from a fixed vocabulary with a Zipf
spread, 1% location messages without text) go into random chats, dated
evenly over the last ``days`` days, oldest first, written through the store
in transactions of ``batch`` messages: each transaction allocates the pts,
inserts the rows with ``store.messages.insert_messages_txn`` and indexes them
with ``store.search.index_messages_txn``, as a send does. PostgreSQL is then
analysed once, as autovacuum would after such a load.

Measured: ``SearchService.search`` in process (the SQL and the Python around
it, no network), first pages of 50, one query at a time, ``queries`` queries
per (scope, kind) after a warm-up:

- scopes: ``chat`` (``chat_id`` of one of the searcher's chats), ``all`` (every
  chat of a searcher: ``user_chats`` chats), ``every`` (the heavy user: all
  chats);
- kinds: ``zh2`` (a Chinese bigram taken from a text the generator could
  write, so common bigrams are asked more often, as people do), ``en`` (an
  English word, the same way), ``filter`` (no text: a sender, a 7-day window,
  both, or ``kind: location``).

Every text result is checked to contain what was asked.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tidings import wire
from tidings.bench.report import format_table, machine, to_json
from tidings.bench.results import percentile
from tidings.bench.storage import fresh_database, server_versions
from tidings.bus.local import LocalBus
from tidings.clock import FakeClock
from tidings.db.engine import Txn
from tidings.services.container import Services
from tidings.services.search import SearchRequest
from tidings.store import messages, search, search_terms, updates, users
from tidings.testing import service_harness, test_settings


def _words(text: str) -> list[str]:
    return text.split()


ZH = _words("""
我们 你们 他们 今天 明天 昨天 时间 工作 问题 公司 项目 会议 开会 老师 学生 学校 朋友 家里
晚上 早上 中午 下午 周末 手机 电脑 电话 消息 文件 资料 报告 数据 系统 服务 用户 客户 市场 产品
价格 订单 发货 快递 地址 付款 支付 银行 账户 密码 登录 注册 下载 上传 图片 视频 音乐 电影 新闻
天气 下雨 晴天 温度 吃饭 喝水 咖啡 火锅 米饭 面条 水果 苹果 西瓜 超市 商店 医院 医生 身体 休息
睡觉 起床 出门 回家 路上 地铁 公交 出租车 飞机 火车 机场 车站 北京 上海 广州 深圳 杭州 成都 中国
世界 城市 国家 政府 经济 发展 科技 互联网 人工智能 软件 程序 代码 测试 部署 服务器 数据库 网络
安全 版本 更新 修复 功能 需求 设计 方案 计划 目标 结果 进度 任务 安排 通知 确认 同意 拒绝 取消
修改 删除 保存 检查 处理 解决 帮助 支持 谢谢 不客气 没问题 好的 可以 不行 也许 应该 需要 希望
觉得 知道 认为 喜欢 讨厌 开心 高兴 难过 生气 担心 放心 已经 马上 立刻 一下 一起 一直 还是 或者
但是 因为 所以 如果 虽然 然后 最后 首先 其实 当然 真的 确实 这个 那个 什么 怎么 为什么 哪里
多少 几点 一点 一些 所有 每天 每次 以后 以前 现在 刚才 最近 将来 过去 孩子 父母 妈妈 爸爸
哥哥 姐姐 弟弟 妹妹 同事 老板 经理 团队 部门 办公室 合同 发票 预算 成本""")

EN = _words("""the a to and of in is it you that for on was with be this are have not but at we they
do from or by one had all there what so up out if about who get which go me when make can like
time no just him know take people into year your good some could them see other than then now
look only come its over think also back after use two how our work first well way even new want
because any these give day most us meeting project deploy server database release update fix bug
feature test review merge branch commit deadline report budget invoice order payment customer
market product price shipping address account password login download upload photo video music
movie news weather rain sunny coffee lunch dinner breakfast hotel flight train airport station
office team manager boss client contract schedule plan goal result progress task notice confirm
agree cancel change delete save check solve help support thanks sorry okay sure maybe tomorrow
today yesterday tonight morning afternoon weekend phone laptop message file document data system
service user network security version design requirement cost sales launch demo roadmap sprint
ticket issue ping call sync doc draft final approve reject pending urgent asap later soon already
still again always never often sometimes really great awesome nice cool fine busy free happy sad
angry worried tired hungry home school teacher student friend family kids parents city country
world economy technology internet software program code api cloud cluster kubernetes docker
python rust golang javascript frontend backend mobile android iphone windows linux""")

KINDS = ("zh2", "en", "filter")
SCOPES = ("chat", "all", "every")
PUNCT = "\uff0c\u3002\uff01\uff1f "  # full-width comma, stop, marks; space


@dataclass(frozen=True)
class SearchBenchParams:
    messages: int = 1_000_000
    chats: int = 1000
    users: int = 200  # senders
    members: int = 8  # senders per chat
    searchers: int = 20
    user_chats: int = 50  # chats each searcher is in
    heavy: bool = True  # one more user in every chat (scope "every")
    days: int = 365
    queries: int = 200  # per scope and kind
    limit: int = 50
    batch: int = 20_000  # messages per load transaction
    seed: int = 7

    def __post_init__(self) -> None:
        if self.members > self.users or self.user_chats > self.chats:
            raise ValueError("members must fit in users, user_chats in chats")


@dataclass
class SearchRow:
    engine: str
    scope: str
    kind: str
    queries: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_results: float
    wrong: int  # results that do not contain what was asked
    load_seconds: float
    messages: int
    workload: str = "search"

    @property
    def ok(self) -> bool:
        return self.wrong == 0 and self.queries > 0

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        for key in ("p50_ms", "p99_ms", "max_ms"):
            row[key] = None if row[key] is None else round(row[key], 3)
        row.update(mean_results=round(self.mean_results, 1),
                   load_seconds=round(self.load_seconds, 1), ok=self.ok)
        return row


SEARCH_COLUMNS: list[tuple[str, str]] = [
    ("engine", "engine"), ("scope", "scope"), ("kind", "kind"), ("queries", "queries"),
    ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("max_ms", "max ms"),
    ("mean_results", "results"), ("wrong", "wrong"), ("load_seconds", "load s"),
]


class Corpus:
    """Message texts: half Chinese, 30% English, 20% both, words drawn with a
    Zipf spread (exponent 0.7) from the lists above."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.zh, self.en = list(ZH), list(EN)
        rng.shuffle(self.zh)
        rng.shuffle(self.en)
        self.zh_cum = _cumulative(len(self.zh))
        self.en_cum = _cumulative(len(self.en))

    def _zh(self, k: int) -> list[str]:
        return self.rng.choices(self.zh, cum_weights=self.zh_cum, k=k)

    def _en(self, k: int) -> list[str]:
        return self.rng.choices(self.en, cum_weights=self.en_cum, k=k)

    def chinese(self) -> str:
        out = []
        for word in self._zh(self.rng.randint(3, 12)):
            out.append(word)
            if self.rng.random() < 0.2:
                out.append(self.rng.choice(PUNCT))
        return "".join(out)

    def english(self) -> str:
        text = " ".join(self._en(self.rng.randint(3, 15)))
        return text[0].upper() + text[1:] + self.rng.choice(".!? ")

    def text(self) -> str:
        r = self.rng.random()
        if r < 0.5:
            return self.chinese()
        if r < 0.8:
            return self.english()
        parts = [*self._zh(self.rng.randint(2, 6)), *(f" {w} " for w in
                                                      self._en(self.rng.randint(1, 4)))]
        self.rng.shuffle(parts)
        return "".join(parts).strip()

    def bigram(self) -> str:
        return self.rng.choice(search_terms.text_terms(self.chinese()))

    def word(self) -> str:
        """A word of two letters or more (a query needs two characters)."""
        while True:
            words = [w for w in search_terms.text_terms(self.english()) if len(w) > 1]
            if words:
                return self.rng.choice(words)


def _cumulative(n: int, exponent: float = 0.7) -> list[float]:
    out, total = [], 0.0
    for i in range(n):
        total += 1.0 / (i + 1) ** exponent
        out.append(total)
    return out


@dataclass
class World:
    """What the load created: who is in which chat."""

    senders: list[int]
    searchers: list[int]
    heavy: int | None
    chats: list[int]
    members: dict[int, list[int]]  # chat -> senders in it
    chats_of: dict[int, list[int]] = field(default_factory=dict)  # searcher -> chats


async def _create_users(sv: Services, names: list[str]) -> list[int]:
    async def users_txn(txn: Txn) -> list[int]:
        return [await users.insert_user_txn(txn, n, "bench: no password", 0) for n in names]

    return await sv.db.write("bench_users", users_txn)


async def build_world(sv: Services, params: SearchBenchParams, rng: random.Random) -> World:
    senders = await _create_users(sv, [f"s{i}" for i in range(params.users)])
    searchers = await _create_users(sv, [f"q{i}" for i in range(params.searchers)])
    heavy = (await _create_users(sv, ["heavy"]))[0] if params.heavy else None
    chats_of = {q: sorted(rng.sample(range(params.chats), params.user_chats))
                for q in searchers}
    world = World(senders, searchers, heavy, [], {})
    for i in range(params.chats):
        members = rng.sample(senders, params.members)
        extra = [q for q in searchers if i in chats_of[q]] + ([heavy] if heavy else [])
        chat = await sv.chats.create(members[0], "group", f"search {i}", members[1:] + extra)
        world.chats.append(chat.chat_id)
        world.members[chat.chat_id] = members
    world.chats_of = {q: [world.chats[i] for i in own] for q, own in chats_of.items()}
    return world


async def load_messages(sv: Services, world: World, params: SearchBenchParams,
                        rng: random.Random, now: int) -> None:
    corpus = Corpus(rng)
    first_date = now - params.days * search_terms.DAY
    step = params.days * search_terms.DAY / max(params.messages, 1)
    for start in range(0, params.messages, params.batch):
        plan: list[tuple[int, int, int, str | None]] = []
        for i in range(start, min(params.messages, start + params.batch)):
            chat = rng.choice(world.chats)
            sender = rng.choice(world.members[chat])
            date = first_date + int(i * step)
            if rng.random() < 0.01:
                plan.append((chat, sender, date, None))
            else:
                plan.append((chat, sender, date, corpus.text()))
        await sv.db.write("bench_load_messages", _loader(plan))


def _loader(plan: list[tuple[int, int, int, str | None]]
            ) -> Callable[[Txn], Coroutine[Any, Any, None]]:
    return lambda txn: _load_txn(txn, plan)


async def _load_txn(txn: Txn, plan: list[tuple[int, int, int, str | None]]) -> None:
    counts = Counter(chat for chat, _, _, _ in plan)
    firsts = await updates.allocate_message_pts_txn(txn, dict(counts), plan[-1][2])
    written = []
    for chat, sender, date, text in plan:
        msg_id = firsts[chat]
        firsts[chat] += 1
        location = wire.Location(lat=52.5, lon=13.4) if text is None else None
        written.append(wire.Message(
            chat_id=chat, msg_id=msg_id, sender_id=sender, date=date,
            kind="location" if text is None else "text", text=text, reply_to=None,
            local_id=f"b{msg_id}", location=location))
    await messages.insert_messages_txn(txn, written)
    await search.index_messages_txn(txn, written)


@dataclass(frozen=True)
class Ask:
    user_id: int
    query: str | None
    kwargs: dict[str, Any]


def plan_queries(world: World, params: SearchBenchParams, rng: random.Random, now: int
                 ) -> dict[tuple[str, str], list[Ask]]:
    corpus = Corpus(random.Random(params.seed + 1))
    first_date = now - params.days * search_terms.DAY
    asked: dict[tuple[str, str], list[Ask]] = {}
    for scope in SCOPES:
        if scope == "every" and world.heavy is None:
            continue
        for kind in KINDS:
            asks = []
            for _ in range(params.queries):
                user = world.heavy if scope == "every" else rng.choice(world.searchers)
                assert user is not None
                chat = rng.choice(world.chats_of.get(user, world.chats))
                kwargs: dict[str, Any] = {"limit": params.limit}
                if scope == "chat":
                    kwargs["chat_id"] = chat
                query = None
                if kind == "zh2":
                    query = corpus.bigram()
                elif kind == "en":
                    query = corpus.word()
                else:
                    kwargs.update(_filter(rng, world, chat, scope, first_date, now))
                asks.append(Ask(user, query, kwargs))
            asked[(scope, kind)] = asks
    return asked


def _filter(rng: random.Random, world: World, chat: int, scope: str, first_date: int,
            now: int) -> dict[str, Any]:
    week = 7 * search_terms.DAY
    since = rng.randint(first_date, now - week)
    sender = rng.choice(world.members[chat]) if scope == "chat" else rng.choice(world.senders)
    choice = rng.randrange(4)
    if choice == 0:
        return {"sender_id": sender}
    if choice == 1:
        return {"since": since, "until": since + week}
    if choice == 2:
        return {"sender_id": sender, "since": since - 4 * week, "until": since + week}
    return {"kind": "location"}


def _wrong(query: str | None, results: list[Any]) -> int:
    if query is None:
        return 0
    if search_terms.text_terms(query) == [query] and not query.isascii():
        return sum(query not in (r.message.text or "") for r in results)
    return sum(query not in search_terms.text_terms(r.message.text or "") for r in results)


async def measure(sv: Services, asks: list[Ask]) -> tuple[list[float], float, int]:
    """Latencies (ms, sorted), mean results per page, wrong results."""
    for ask in asks[:max(1, len(asks) // 10)]:  # warm-up
        await sv.search.search(SearchRequest(user_id=ask.user_id, query=ask.query,
                                             **ask.kwargs))
    latencies, results, wrong = [], 0, 0
    for ask in asks:
        started = time.perf_counter()
        page = await sv.search.search(SearchRequest(user_id=ask.user_id, query=ask.query,
                                                    **ask.kwargs))
        latencies.append((time.perf_counter() - started) * 1000.0)
        results += len(page.results)
        wrong += _wrong(ask.query, page.results)
    latencies.sort()
    return latencies, results / max(len(asks), 1), wrong


async def run_engine(data_dir: Path, database_url: str | None, engine: str,
                     params: SearchBenchParams, progress: Callable[[str], None]
                     ) -> list[SearchRow]:
    rng = random.Random(params.seed)
    settings = test_settings(data_dir, database_url)
    now = int(time.time())
    # The chats are created at the date of the oldest message; the messages carry
    # their own dates (the search itself reads no clock).
    clock = FakeClock(now - params.days * search_terms.DAY)
    async with service_harness(settings, clock, LocalBus()) as sv:
        started = time.perf_counter()
        world = await build_world(sv, params, rng)
        await load_messages(sv, world, params, rng, now)
        if engine == "postgres":  # what autovacuum does after a bulk load
            await sv.db.write("bench_analyze", _analyze_txn)
        load_seconds = time.perf_counter() - started
        progress(f"  search {engine}: loaded {params.messages:,} messages in "
                 f"{load_seconds:,.0f} s")
        rows = []
        for (scope, kind), asks in plan_queries(world, params, rng, now).items():
            latencies, mean_results, wrong = await measure(sv, asks)
            rows.append(SearchRow(
                engine=engine, scope=scope, kind=kind, queries=len(latencies),
                p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99),
                max_ms=latencies[-1] if latencies else None, mean_results=mean_results,
                wrong=wrong, load_seconds=load_seconds, messages=params.messages))
            progress(f"  search {engine} {scope} {kind}: p50 {rows[-1].p50_ms:.2f} ms, "
                     f"p99 {rows[-1].p99_ms:.2f} ms")
        return rows


async def _analyze_txn(txn: Txn) -> None:
    await txn.execute("ANALYZE")


async def run_search_bench(engines: tuple[str, ...], pg_url: str | None,
                           params: SearchBenchParams, progress: Callable[[str], None]
                           ) -> tuple[list[SearchRow], dict[str, str]]:
    versions = await server_versions(pg_url, "postgres" in engines)
    rows: list[SearchRow] = []
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp:
        for engine in engines:
            async with fresh_database(engine, pg_url) as url:
                rows += await run_engine(Path(tmp) / f"search-{engine}", url, engine, params,
                                         progress)
    return rows, versions


def report(rows: list[SearchRow], versions: dict[str, str], params: SearchBenchParams
           ) -> tuple[str, str]:
    """The table for people and the JSON for the record."""
    return (format_table(rows, SEARCH_COLUMNS),
            to_json("search", rows, machine(versions), asdict(params)))
