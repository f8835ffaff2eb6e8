"""File tools against real temporary directories."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
from pathlib import Path

import pytest

from uni_wizard.errors import ToolCallError, ToolExecutionError
from uni_wizard.tools.file import file_list, file_read, file_search, file_write


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- file_read


def test_read_whole_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("héllo\nworld\n", encoding="utf-8")
    result = file_read(path=str(p))
    assert result == {
        "path": str(p.resolve()),
        "content": "héllo\nworld\n",
        "size": len("héllo\nworld\n".encode()),
        "truncated": False,
        "binary": False,
        "sha256": sha("héllo\nworld\n".encode()),
    }


def test_read_truncates_at_max_bytes_but_hashes_everything(tmp_path: Path) -> None:
    data = b"0123456789" * 100
    p = tmp_path / "big.txt"
    p.write_bytes(data)
    result = file_read(path=str(p), max_bytes=25)
    assert result["content"] == "0123456789012345678901234"
    assert result["truncated"] is True
    assert result["size"] == 1000
    assert result["sha256"] == sha(data)


def test_read_cut_inside_multibyte_character_is_not_binary(tmp_path: Path) -> None:
    p = tmp_path / "accents.txt"
    p.write_text("aé", encoding="utf-8")  # b"a\xc3\xa9"
    result = file_read(path=str(p), max_bytes=2)
    assert result["content"] == "a"
    assert result["binary"] is False and result["truncated"] is True


def test_read_binary_is_replaced_and_flagged(tmp_path: Path) -> None:
    p = tmp_path / "blob.bin"
    p.write_bytes(b"ok\xff\xfe\x00end")
    result = file_read(path=str(p))
    assert result["binary"] is True
    assert result["content"] == "ok\ufffd\ufffd\x00end"


def test_read_other_encoding(tmp_path: Path) -> None:
    p = tmp_path / "latin.txt"
    p.write_bytes("café".encode("latin-1"))
    assert file_read(path=str(p), encoding="latin-1")["content"] == "café"
    with pytest.raises(ToolCallError, match="unknown encoding"):
        file_read(path=str(p), encoding="no-such-codec")


def test_read_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ToolExecutionError, match=r"missing\.txt: no such file or directory"):
        file_read(path=str(tmp_path / "missing.txt"))
    with pytest.raises(ToolExecutionError, match="is a directory, not a file"):
        file_read(path=str(tmp_path))


# ---------------------------------------------------------------- file_write


def test_write_then_overwrite_atomically(tmp_path: Path) -> None:
    p = tmp_path / "out.txt"
    first = file_write(path=str(p), content="one\n")
    assert first == {"path": str(p.resolve()), "bytes_written": 4, "sha256": sha(b"one\n")}
    p.chmod(0o640)
    second = file_write(path=str(p), content="twö\n")
    assert p.read_text(encoding="utf-8") == "twö\n"
    assert second["bytes_written"] == 5
    assert second["sha256"] == sha("twö\n".encode())
    assert p.stat().st_mode & 0o777 == 0o640  # mode kept across the replace
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]  # no temporary file left


def test_append(tmp_path: Path) -> None:
    p = tmp_path / "log.txt"
    p.write_text("a\n")
    result = file_write(path=str(p), content="b\n", append=True)
    assert p.read_text() == "a\nb\n"
    assert result["bytes_written"] == 2
    assert result["sha256"] == sha(b"a\nb\n")


def test_write_through_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    file_write(path=str(link), content="new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_write_missing_parent(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.txt"
    with pytest.raises(ToolExecutionError, match=r"parent directory .* does not exist"):
        file_write(path=str(target), content="x")
    assert not (tmp_path / "a").exists()
    result = file_write(path=str(target), content="x", create_dirs=True)
    assert target.read_text() == "x"
    assert result["bytes_written"] == 1


def test_write_to_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(ToolExecutionError, match="is a directory"):
        file_write(path=str(tmp_path), content="x")


def test_failed_atomic_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("keep")
    # A real write failure after the temporary file exists: a file size limit (EFBIG).
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16, hard))
    try:
        with pytest.raises(ToolExecutionError, match="cannot write"):
            file_write(path=str(target), content="x" * 4096)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert sorted(os.listdir(tmp_path)) == ["f.txt"]
    assert target.read_text() == "keep"


# ---------------------------------------------------------------- file_list


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "README.md").write_text("# readme\nTODO: write more\n")
    (root / "src" / "main.py").write_text("import os\n# TODO fix\nprint('hi')\n")
    (root / "src" / "pkg" / "mod.py").write_text("def f():\n    return 1  # todo lower\n")
    (root / "src" / "pkg" / "data.bin").write_bytes(b"TODO\x00\x01\x02")
    (root / "docs" / "guide.txt").write_text("TODO in docs\n")
    (root / "src" / "loop").symlink_to(root, target_is_directory=True)  # a symlink loop
    return root


def test_list_flat(tree: Path) -> None:
    result = file_list(path=str(tree))
    assert result["path"] == str(tree.resolve())
    assert result["entries"] == [
        {"path": "README.md", "type": "file", "size": 26},
        {"path": "docs", "type": "dir", "size": None},
        {"path": "src", "type": "dir", "size": None},
    ]
    assert result["truncated"] is False


def test_list_recursive_does_not_follow_symlink_loop(tree: Path) -> None:
    result = file_list(path=str(tree), recursive=True)
    paths = [e["path"] for e in result["entries"]]
    assert paths == [
        "README.md",
        "docs",
        "docs/guide.txt",
        "src",
        "src/loop",
        "src/main.py",
        "src/pkg",
        "src/pkg/data.bin",
        "src/pkg/mod.py",
    ]
    assert {e["path"]: e["type"] for e in result["entries"]}["src/loop"] == "symlink"


def test_list_pattern_and_truncation(tree: Path) -> None:
    py = file_list(path=str(tree), pattern="*.py", recursive=True)
    assert [e["path"] for e in py["entries"]] == ["src/main.py", "src/pkg/mod.py"]
    cut = file_list(path=str(tree), recursive=True, max_entries=2)
    assert [e["path"] for e in cut["entries"]] == ["README.md", "docs"]
    assert cut["truncated"] is True


def test_list_errors(tree: Path) -> None:
    with pytest.raises(ToolExecutionError, match="no such file or directory"):
        file_list(path=str(tree / "nope"))
    with pytest.raises(ToolExecutionError, match="is not a directory"):
        file_list(path=str(tree / "README.md"))


# ---------------------------------------------------------------- file_search


def test_search_with_glob(tree: Path) -> None:
    result = file_search(path=str(tree), regex=r"TODO", glob="*.py")
    assert result["matches"] == [{"path": "src/main.py", "line": 2, "text": "# TODO fix"}]
    assert result["files_searched"] == 2
    assert result["truncated"] is False


def test_search_everything_skips_binary_and_loop(tree: Path) -> None:
    result = file_search(path=str(tree), regex=r"(?i)todo")
    assert [(m["path"], m["line"]) for m in result["matches"]] == [
        ("README.md", 2),
        ("docs/guide.txt", 1),
        ("src/main.py", 2),
        ("src/pkg/mod.py", 2),
    ]
    assert "src/pkg/data.bin: binary" in result["skipped"]


def test_search_limits(tree: Path) -> None:
    cut = file_search(path=str(tree), regex="TODO", max_matches=1)
    assert len(cut["matches"]) == 1 and cut["truncated"] is True
    small = file_search(path=str(tree), regex="TODO", max_file_bytes=20)
    assert [m["path"] for m in small["matches"]] == ["docs/guide.txt"]
    assert "README.md: larger than 20 bytes" in small["skipped"]


def test_search_single_file(tree: Path) -> None:
    result = file_search(path=str(tree / "src" / "main.py"), regex=r"^print")
    assert result["matches"] == [{"path": "main.py", "line": 3, "text": "print('hi')"}]


def test_search_invalid_regex_is_the_callers_fault(tree: Path) -> None:
    with pytest.raises(ToolCallError, match=r"invalid regex '\(unclosed': missing \), unterminated subpattern"):
        file_search(path=str(tree), regex="(unclosed")


def test_search_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ToolExecutionError, match="no such file or directory"):
        file_search(path=str(tmp_path / "nope"), regex="x")
