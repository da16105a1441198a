#!/usr/bin/env perl
# check_docs.pl ROOT: the repository's documents stand alone.
#   1. Every Markdown link in ROOT/README.md and ROOT/docs/*.md that is not a URL points to
#      a file or directory inside ROOT that exists; a #fragment into a Markdown file names
#      one of its headings (GitHub's anchor rule).
#   2. No file under ROOT (build outputs and .git aside) names the directory that sits
#      beside the repository on the development machines: the project must not depend on
#      files outside itself.
# Prints one line per problem and exits 1 when there is any. Perl, because perl-base is on
# every Debian machine and the check must run before anything is installed: it uses only
# perl-base's modules (no File::Find, no PerlIO encoding layers).
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);

my $root = abs_path($ARGV[0] // '.') or die "check_docs: no such directory\n";
my @bad;

# GitHub's heading anchors: lower case, punctuation other than '-' and '_' dropped,
# spaces to '-', repeats numbered -1, -2, ...
sub anchors {
    my ($file) = @_;
    my (%seen, %set);
    open my $fh, '<', $file or return {};
    my $fence = 0;
    while (my $l = <$fh>) {
        utf8::decode($l); # \w then matches letters beyond ASCII, as GitHub's rule does
        $fence = !$fence if $l =~ /^\s*(```|~~~)/;
        next if $fence || $l !~ /^#{1,6}\s+(.*?)\s*#*\s*$/;
        my $h = lc $1;
        $h =~ s/\[([^\]]*)\]\([^)]*\)/$1/g; # a link in a heading keeps its text
        $h =~ s/[^\w\- ]//g;
        $h =~ s/ /-/g;
        my $a = exists $seen{$h} ? "$h-" . ++$seen{$h} : $h;
        $seen{$h} //= 0;
        $set{$a} = 1;
    }
    return \%set;
}

my @docs = grep { -f } ("$root/README.md", glob("$root/docs/*.md"));
for my $doc (@docs) {
    open my $fh, '<', $doc or die "check_docs: $doc: $!\n";
    my ($fence, $ln) = (0, 0);
    (my $rel = $doc) =~ s{^\Q$root\E/}{};
    while (my $l = <$fh>) {
        $ln++;
        utf8::decode($l);
        if ($l =~ /^\s*(```|~~~)/) { $fence = !$fence; next; }
        next if $fence;
        $l =~ s/`[^`]*`//g; # code spans are not links
        while ($l =~ /!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g) {
            my $t = $1;
            next if $t =~ m{^[a-z][a-z0-9+.-]*:}i; # http:, https:, mailto:
            my ($path, $frag) = $t =~ /^([^#]*)(?:#(.*))?$/;
            my $target = $path eq '' ? $doc
                       : File::Spec->canonpath(dirname($doc) . "/$path");
            my $abs = -e $target ? abs_path($target) : undef;
            if (!defined $abs) {
                push @bad, "$rel:$ln: link to a missing file: $t";
            } elsif (index("$abs/", "$root/") != 0) {
                push @bad, "$rel:$ln: link outside the repository: $t";
            } elsif (defined $frag && $frag ne '' && $abs =~ /\.md$/i
                     && !anchors($abs)->{lc $frag}) {
                push @bad, "$rel:$ln: no heading for the anchor: $t";
            }
        }
    }
}

# Files to scan: git's list (tracked and not ignored) when ROOT is a work tree, otherwise
# every file but build output.
my @files;
if (-e "$root/.git"
    && open my $git, '-|', 'git', '-C', $root, 'ls-files', '-z', '--cached', '--others',
            '--exclude-standard') {
    local $/ = "\0";
    @files = map { chomp; "$root/$_" } <$git>;
    close $git;
}
sub walk {
    my ($dir) = @_;
    opendir my $dh, $dir or return;
    for my $e (sort readdir $dh) {
        next if $e eq '.' || $e eq '..' || $e eq '.git' || $e eq 'build';
        my $p = "$dir/$e";
        if (-l $p) { next; }
        elsif (-d $p) { walk($p); }
        elsif (-f $p) { push @files, $p; }
    }
}
walk($root) if !@files;
my $outside = '..' . '/shared'; # spelt in two pieces so that this file passes its own test
for my $f (@files) {
    next if !-f $f || -B $f;
    open my $fh, '<', $f or next;
    (my $rel = $f) =~ s{^\Q$root\E/}{};
    while (my $l = <$fh>) {
        if (index($l, $outside) >= 0) {
            push @bad, "$rel:$.: names $outside, a directory outside the repository";
        }
    }
}

binmode STDOUT, ':utf8'; # headings and paths may be UTF-8
print "docs-check: $_\n" for @bad;
exit(@bad ? 1 : 0);
