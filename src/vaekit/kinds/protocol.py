"""The Kind protocol: what each layer asks a kind of data, and nothing else.

A kind (vaekit.kinds.base.Kind) is found by its name, which config.json records as model.kind
(and a Dataset as `kind`); its package holds one module per layer, `Kind.part(layer)`:

    data      (data layer)        recognize and read its files; its schema
    model     (models layer)      its refusals, its heads and likelihood, its input checks
    evaluate  (evaluation layer)  its own figures
    render    (report layer)      how its outputs are written and drawn

A layer calls only the parts in its own layer or below (`kind.part("model")` from models/ and
above, `kind.part("render")` from report/ and above), and never branches on a kind's name.
Each part is a module of functions with the names and signatures below; `schema` is always the
kind's schema object (`data.schema_from_json` of config.json's model.schema), None for images.
A part may leave out a function marked optional: the caller then does what it says.

data part
    schema_from_json(record: dict | None) -> Any
        The kind's schema object from its JSON record (None -> None for images); a malformed
        record is a one-line VaekitError.
    (the recognize/open functions its Sources name; see vaekit.kinds.base.Source)

model part
    check(config: ModelConfig) -> None
        The kind's refusals of a config of its data (shape against the schema, the families,
        likelihoods and options that do not fit), one-line VaekitErrors.
    OWNED: dict[str, tuple[str, ...]]   (optional)
        Option values only this kind takes ({"likelihood": ("mixed",)}): a config of another
        kind naming one is refused, saying which kind it is for.
    likelihood(config: ModelConfig) -> nn.Module | None   (optional)
        The likelihood p(x|z) where config.likelihood is one this kind owns; None otherwise.
    assemble(config, likelihood, parts) -> VAE | None   (optional)
        The whole VAE where the kind builds its own (a table's); None: the family's builder.
    finish(vae: VAE, config: ModelConfig) -> None   (optional)
        Adjust a built VAE (audio: no clamp of the mean to pixel values).
    prepare(x, shape, schema, max_value) -> torch.Tensor
        Examples in any form the kind accepts -> float32 (B, C, H, W) on the CPU, checked
        (shape, value range, finiteness), one-line VaekitErrors.
"""
