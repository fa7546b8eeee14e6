# The data files that define each image experiment's data set (inputs of split and split_check).
# The layouts below mirror memgen.data's readers (kept here so parsing the workflow needs no
# imports beyond the standard library).
import hashlib

SPLIT_IDX = {"mnist": "MNIST", "fmnist": "FashionMNIST"}
SPLIT_IDX_FILE = "train-images-idx3-ubyte"
SPLIT_DEFAULT_DIR = {
    "cifar10": "cifar-10-batches-py",
    "lsun_church": "church_outdoor_train_lmdb",
}


def split_base(E):
    cfg = exp_cfg(E)
    path = cfg.get("path") or SPLIT_DEFAULT_DIR.get(cfg["dataset"], "")
    return os.path.join(config["data_root"], path) if path else config["data_root"]


def split_data_files(wildcards):
    """The existing files whose content defines experiment E's data set (empty for digits)."""
    dataset, base = exp_cfg(wildcards.E)["dataset"], split_base(wildcards.E)
    if dataset in SPLIT_IDX:
        if os.path.isfile(base):
            return [base]
        folders = [
            os.path.join(base, SPLIT_IDX[dataset], "raw"),
            os.path.join(base, "raw"),
            base,
        ]
        cands = [
            os.path.join(f, SPLIT_IDX_FILE + gz) for f in folders for gz in ("", ".gz")
        ]
        return [c for c in cands if os.path.isfile(c)][:1]
    if dataset == "cifar10":
        files = [os.path.join(base, f"data_batch_{i}") for i in range(1, 6)]
        nested = [
            os.path.join(base, "cifar-10-batches-py", os.path.basename(f))
            for f in files
        ]
        return next((fs for fs in (files, nested) if all(map(os.path.isfile, fs))), [])
    if dataset == "lsun_church":
        mdb = os.path.join(base, "data.mdb")
        return [mdb] if os.path.isfile(mdb) else []
    if dataset == "folder" and os.path.isdir(base):
        names = sorted(os.listdir(base))
        exts = (".png", ".jpg", ".jpeg")
        return [os.path.join(base, n) for n in names if n.lower().endswith(exts)]
    return []


def split_data_stamp(wildcards):
    """Hash of (path, size, mtime, inode-change time) of every data file of experiment E.

    A param of split_check, so the content check reruns whenever a data file may have changed,
    even when its modification time was preserved (tar x, rsync -a, cp -p, touch -d): the
    inode-change time (ctime) is set by the kernel on every write, rename or utime and cannot be
    restored by any copy tool. Costs one stat() per file when the workflow starts.
    """
    h = hashlib.sha256()
    for path in split_data_files(wildcards):
        st = os.stat(path)
        h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n".encode())
    return h.hexdigest()[:16]


def split_ancient_data(wildcards):
    return [ancient(f) for f in split_data_files(wildcards)]
