"""`imgbase base` and `imgbase layer`, mirroring
src/imgbased/plugins/core.py lines 42-80 and 129-161 (the options
persistrepo uses: base --remove and --of-layer, layer --latest, --current
and --volume-path)."""


def init(app):
    """Lines 37-39."""
    app.hooks.connect("pre-arg-parse", add_argparse)
    app.hooks.connect("post-arg-parse", post_argparse)


def add_argparse(app, parser, subparsers):
    base_parser = subparsers.add_parser("base", help="Runtime base handling")
    base_parser.add_argument("--remove", metavar="BASE")
    base_parser.add_argument("--of-layer", metavar="LAYER")
    layer_parser = subparsers.add_parser("layer", help="Runtime layer handling")
    layer_parser.add_argument("--latest", action="store_true")
    layer_parser.add_argument("--current", action="store_true")
    layer_parser.add_argument("--volume-path", metavar="NVR")


def post_argparse(app, args):
    if args.command == "base":
        if args.remove:
            app.imgbase.remove_base(args.remove)
        elif args.of_layer:
            print(app.imgbase.base_of_layer(args.of_layer))
    elif args.command == "layer":
        if args.current:
            print(app.imgbase.current_layer())
        elif args.latest:
            print(app.imgbase.latest_layer())
        elif args.volume_path:
            print(app.imgbase.activate(args.volume_path).path)
