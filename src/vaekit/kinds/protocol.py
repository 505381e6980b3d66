"""The Kind protocol: what each layer asks a kind of data, and nothing else.

A kind (vaekit.kinds.base.Kind) is found by its name, which config.json records as model.kind
(and a Dataset as `kind`); its package holds one module per layer, `Kind.part(layer)`:

    data      (data layer)        recognize and read its files; its schema
    model     (models layer)      its refusals, its heads and likelihood, its input checks
    evaluate  (evaluation layer)  its own figures
    render    (report layer)      how its outputs are written and drawn
    cli       (cli layer)         optional: its own command-line flows and arguments

Beside them, a kind's own modules take their layer from their names as well: data_*.py the
data layer (the table's schema, the text's vocabulary, audio's WAV files and spectrograms, a
series' files), model_*.py the models layer, apps.py the apps layer (text's sentences through
a model), and so on; no module of vaekit outside the kind's folder imports them (users,
tests and benchmarks may).

A layer calls only the parts in its own layer or below (`kind.part("model")` from models/ and
above, `kind.part("render")` from report/ and above), and never branches on a kind's name.
Each part is a module of functions with the names and signatures below; `schema` is always the
kind's schema object (`data.schema_from_json` of config.json's model.schema), None for images.
A part may leave out a function marked optional: the caller then does what it says.

data part
    schema_from_json(record: dict | None) -> Any
        The kind's schema object from its JSON record (None -> None for images); a malformed
        record is a one-line VaekitError.
    (the recognize/open functions its Sources name; see vaekit.kinds.base.Source: an opener
    takes (source, request: vaekit.data.datasets.OpenRequest), whose `schema` is the model's
    record where a model of this kind reads the source, and reads it with schema_from_json)
    describe(dataset: Dataset) -> dict
        What `vaekit data info` adds to the dataset's info (vaekit.api.data.dataset_info):
        images' and audio's per-split statistics ("splits"), a table's "columns", text's
        words per line and most frequent words.
    read_input(spec: str, schema, shape: tuple[int, int, int]) -> array or tensor
        The examples an input file (named by a user, not a test-split index) holds, in a form
        the model part's `prepare` takes: images from PNG/JPEG or .npy/.npz, a table's rows
        encoded with the schema, a .wav clip's spectrogram; text refuses files. A path that
        is no such file is a one-line VaekitError naming it (vaekit.api.inputs.Inputs).
    DATAFRAMES: bool   (optional, default False)
        Whether `read_input` and `read_rows` also take a pandas DataFrame as `spec` (read as
        its CSV would be: a table's rows, a series), which `Model.prepare` then accepts.
    read_rows(spec: str, schema) -> ImageSet   (optional)
        For a kind whose input files carry ids and labels (a table): the file's examples as
        a set, each with its id, and the labels where the file has them (`Inputs.rows`).
    DATA_KIND: str   (optional)
        What eval.json's "data_kind" (Model.data_kind, public) calls a model of this kind:
        images' "images"; without it, the kind's name.
    info_lines(info: dict) -> list[str]   (in the render part)
        `vaekit data info`'s lines for a dataset of this kind, after its name (and a
        registered dataset's description and files): its shape, splits, checksum, ...

model part
    check(config: ModelConfig) -> None
        The kind's refusals of a config of its data (shape against the schema, the families,
        likelihoods and options that do not fit), one-line VaekitErrors; ModelConfig.validate
        calls it after the checks every config gets (images: nothing more).
    OWNED: dict[str, tuple[str, ...]]   (optional, with OWNED_FOR)
        Values of ModelConfig fields that only this kind takes, by field name (table:
        {"likelihood": ("mixed",)}; text: {"family": ("rnn",), "likelihood":
        ("categorical",)}): a config of another kind naming one is refused, after that
        kind's check. An owned likelihood is one --likelihood accepts (likelihood_names).
    OWNED_FOR: str
        What the refusal says those values are for: "tables (.csv, .parquet data)".
    likelihood(config: ModelConfig) -> nn.Module | None   (optional)
        The likelihood p(x|z) config.likelihood names, where this kind builds its own: one it
        owns (needed where OWNED names a likelihood), or its own form of a built-in one (a
        series' Gaussian, which leaves missing values out); None: the built-in LIKELIHOODS.
    assemble(config, likelihood, parts) -> VAE | None   (optional)
        The whole VAE where the kind builds its own (a table's, text's), from the likelihood
        already built and the user's modules by component name; None, or no assemble: the
        family's builder (text's family rnn hands back to it).
    finish(vae: VAE, config: ModelConfig) -> None   (optional)
        Adjust a built VAE in place (audio: no clamp of the mean to pixel values).
    prepare(x, shape, schema, max_value) -> torch.Tensor
        Examples in any form the kind accepts -> float32 (B, C, H, W) on the CPU (a tensor
        may stay on its device; Model.prepare moves it to the model's), checked (shape,
        value range, finiteness), one-line VaekitErrors.
    encode_lines(lines: list[str], schema) -> torch.Tensor   (optional)
        Sentences -> the model's input (B, 1, 1, T) on the CPU (text); without it,
        Model.encode_lines refuses: sentences are for a text model.
    IMAGES: bool   (optional, False)
        Its examples are images of pixels in [0, 1]: the commands made for images
        (denoise, traverse, uncertainty, export, serve) take its models
        (Model.require_images).
    COMPLEXITY: bool   (optional, True)
        False: the anomaly score "complexity", which compares with a PNG's size, is refused
        for its examples (a table's rows, audio).
    IDS: bool   (optional, False)
        Its examples are named (a table's row ids, audio's files): `embed` reports the ids.
    named_inputs(resolver: vaekit.api.inputs.Inputs, specs: list[str]) -> ImageSet   (optional)
        The examples `specs` name, as one set for `embed`, with their labels and ids where
        they carry them; without it, `resolver.images(specs)` without labels or ids.
    columns(schema) -> list[str]   (optional)
        The names of the columns an example's values are in (a table's): an anomaly score
        then has a part per column (AnomalyDetector.contributions); without it, none.
    record(schema, options: dict) -> dict | None
        config.json's model.schema for a new run on a dataset whose schema is `schema`, with
        the resolved training options (text adds its text options); images: None.
    options_in_record(record: dict | None) -> dict   (optional)
        The options a run records in its model.schema rather than as options of their own
        (text's), for --resume's checks (vaekit.api.options.options_from_config).
    DEFAULTS: dict[str, Any]
        The options a model of this kind is built with unless the user gives them (a
        table's --model mlp --likelihood mixed, text's rnn and categorical, audio's gaussian);
        images: none beyond the declared defaults.
    defaults(given: dict) -> dict   (optional)
        DEFAULTS less those that do not fit the user's other choices `given` (text: no KL
        warm-up for the IWAE bound); without it, DEFAULTS.
    REFUSED: tuple[str, ...]   (optional) and refused(flag: str) -> str
        The options data of this kind refuses (a table's --binarize), and the one-line
        message saying why for the option's flag (vaekit.api.options.fit_options_to_data).
    only(flag: str, data) -> str   (optional)
        The message with which data of another kind (`data`, as given to --data) refuses one
        of this kind's own options (`Kind.load_options`: a table's --target); without it
        (images), other data does not refuse them by this rule (their REFUSED may).

evaluate part
    RECONSTRUCTION_MSE: bool
        Whether evaluate_vae's own reconstruction error (MSE and PSNR, in pixel values) means
        something for this kind: only images'; the others' figures give their own.
    figures(vae: VAE, examples: ImageSet, schema, report: dict, reconstruction: bool) -> None
        Complete `vaekit.evaluate`'s report in place with the kind's own numbers: its
        "reconstruction" (a table's per-column errors, audio's log-spectral distance; where
        `reconstruction` is False, {"skipped": "--no-reconstruction"}), text's per-word
        bounds (and no reconstruction nor per-dimension bounds).

render part
    eval_nouns(report: dict) -> tuple[str, str]
        How `vaekit eval`'s table names what the likelihood is for and what the data is
        ("binary pixels", "table rows", "standardized log-mel spectrograms").
    eval_per_unit(report: dict, bound: str) -> str   (optional)
        The end of the "elbo" or "iwae" bound's line ("   (0.8123 nats per word)");
        without it, per dimension where the report has it.
    eval_lines(report: dict) -> list[str]
        `vaekit eval`'s lines after the bounds: bits/dim and the reconstruction (images),
        per column (a table), the log-spectral distance (audio), per word (text).
    eval_rows(report: dict) -> list[(name, value, stderr, note)]   (optional)
        report.html's Evaluation rows of the kind's own figures, after the shared ones
        (text: NLL per word, perplexity, KL per line).
    report_sections(model, shared: list[(title, builder)]) -> list[(title, builder)]
        report.html's sections of a model of this kind, in page order, with `shared` (the KL
        per latent dimension and the latent map, vaekit.report.latent) where they belong. A
        builder takes a vaekit.report.view.RunView and returns HTML, or raises VaekitError
        saying why the model or run cannot have that section.
    compare_samples(model, name: str, seed: int) -> str
        A few samples of the model as one <figure> of the compare page, captioned `name`.
    schema_shown(schema: dict | None, checksum: bool = False) -> dict | None
        config.json's model.schema as a page shows it (text: the vocabulary by its size, and
        with `checksum`, the compare page's, the sha256 of its words); others: unchanged.
    served(model, x: torch.Tensor, ncols: int | None = None) -> dict[str, str]   (optional)
        Decoded examples x (N, C, H, W) of `model` as the fields of a `vaekit serve` answer
        that the page draws (images: {"image": PNG data: URI}; one example unbordered where
        ncols is None, else a grid of ncols columns; series: a plot of the named channels in
        their units). Without it, `vaekit serve` refuses the model.
    card_limits: list[str]   (optional)
        Sentences the model card's Limitations begin with for this kind (tables and series:
        their densities are of standardized values).
    uploads: bool   (optional, default False)
        Whether the `vaekit serve` page takes a file of this kind to reconstruct and score
        (images: True; a page without it hides the upload and its endpoint refuses one).
    served_noun: str   (optional, default "examples")
        What the `vaekit serve` page calls the examples on its map ("images", "windows").
    pictures(model, test: ImageSet, history: list[dict], files: dict[str, Path], seed: int)
        -> dict[str, Path]
        The pictures `vaekit train` writes beside a run (vaekit.api.report.write_pictures),
        at the paths `files` names ("samples", "reconstructions", "curves"): images' all
        three, audio's with spectrograms in dB, a table's and text's only the curves.
        Returns those it wrote, by name.
  the command line's outputs (vaekit.cli: sample, reconstruct, interpolate, anomaly, embed)
    FLOWS: tuple[str, ...]
        The commands the kind runs by a flow of its own at the command line, the function
        of that name in its cli part (audio: sample, reconstruct, interpolate as WAV
        folders; text: all five, as sentences). The rest below is asked only of the
        commands not in FLOWS.
    OUTPUT_SUFFIX: str
        The file `sample`, `reconstruct` and `interpolate` write (".png"; a table's ".csv").
    ARRAYS: bool
        Whether --npy is offered (images); else refused ("written as CSV").
    ROWS: bool
        Whether INPUTs name rows (Inputs.rows, each with its id: a table's) not images.
    ANOMALY_BESIDE: tuple[str, ...]
        The endings of the files `anomaly` writes beside its CSV (("_errors.png",)).
    write_samples(model, x, out: Path, n: int) -> str
    write_reconstructions(model, ids, x, made, out: Path) -> str
    write_interpolation(model, x, out: Path, steps: int, grid: bool) -> str
        Write the examples (x; inputs x and reconstructions made) at `out` as this kind's
        file; return what was written, for "wrote {it} to {out}".
    anomaly_ids(model, specs: list[str], test_ids: Callable[[], list]) -> list[str] | None
        The names of `anomaly`'s INPUT files (audio: file names); None: their index.
    write_scores(model, output, data, scores, flags, labels, detector, score: str) -> Any
        `anomaly`'s CSV (a table's with ids and per-column contributions); returns what
        `show_top` needs.
    show_top(model, data, scores, top, maps: Path, written) -> None
        `anomaly`'s top inputs: drawn above their error maps at `maps`, or printed (a table).
    class_names(model) -> list[str] | None
        Label names by index for `embed`'s CSV; None: labels stay numbers.
    id_header(model) -> str
        The header of `embed`'s id column where inputs have ids ("file", a table's id).
    id_columns(ids: list, column: str) -> (list[str], list[list[str]])   (optional)
        Ids of several parts in columns of their own (a series' window: its series, then
        `column` with its time): the header and each id's cells; without it, one column.

cli part   (optional: vaekit.cli.output.kind_cli is None for a kind without one)
    sample(args), reconstruct(args), interpolate(args), anomaly(args), embed(args) -> int
        The flows its render part's FLOWS names, each called with the command's parsed
        arguments in place of the shared flow (vaekit.cli.output.own_flow); the exit status.
    add_arguments(command: str, parser: argparse.ArgumentParser) -> None   (optional)
        Add the kind's own arguments to `command`'s parser (text: --decode and --beam-width
        to sample, reconstruct and interpolate); called as each command's parser is built
        (vaekit.cli.output.add_kind_arguments), so keep its imports light: `vaekit --help`
        asks every kind.
"""
