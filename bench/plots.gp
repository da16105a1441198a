# gnuplot -e "dir='bench/results'" bench/plots.gp : PNG line plots of the scaling sweeps
if (!exists("dir")) dir = 'bench/results'
set datafile separator ','
set terminal pngcairo size 900,600 font ',11'
set key top left
set grid
set style data linespoints
# CSV columns: 1 the swept size, 2-8 fwd+bwd ms of the 7 rows (6 methods and LoRA's
# traffic without arithmetic), 9-15 their ratios to LoRA, 16 LoRA's lower bound (ms)
nm = 7
name(i) = word('LoRA BLoB BLoB+Flipout Me-LoRA_(C/batch) Me-LoRA_(C/example) Me-LoRA_(C/batch,_folded) LoRA_traffic,_no_math', i)
title(i) = system(sprintf("echo '%s' | tr _ ' '", name(i)))

# time versus T, log-log: slope 1 = linear in the tokens
set output dir.'/scaling_T.png'
set title 'fwd+bwd of the adapter vs tokens T (n = m = 4096, r = 8)'
set xlabel 'T (tokens)'
set ylabel 'time (ms)'
set logscale xy 2
plot for [i=1:nm] dir.'/scaling_T.csv' using 1:(column(i+1)) skip 1 title title(i) lc i pt i, \
     dir.'/scaling_T.csv' using 1:16 skip 1 title 'LoRA lower bound' dashtype 2 lc rgb 'black'

# time versus r, log-log: flat while memory-bound, slope 1 once compute-bound
set output dir.'/scaling_r.png'
set title 'fwd+bwd of the adapter vs rank r (T = 1200, n = m = 4096)'
set xlabel 'r (rank)'
plot for [i=1:nm] dir.'/scaling_r.csv' using 1:(column(i+1)) skip 1 title title(i) lc i pt i, \
     dir.'/scaling_r.csv' using 1:16 skip 1 title 'LoRA lower bound' dashtype 2 lc rgb 'black'

# time versus n = m, log-log
set output dir.'/scaling_n.png'
set title 'fwd+bwd of the adapter vs width n = m (T = 1200, r = 8)'
set xlabel 'n = m'
plot for [i=1:nm] dir.'/scaling_n.csv' using 1:(column(i+1)) skip 1 title title(i) lc i pt i, \
     dir.'/scaling_n.csv' using 1:16 skip 1 title 'LoRA lower bound' dashtype 2 lc rgb 'black'

# ratio to LoRA versus r (linear y): the overhead of each method
set output dir.'/ratio_r.png'
set title 'fwd+bwd as a multiple of LoRA, same run (T = 1200, n = m = 4096)'
set xlabel 'r (rank)'
set ylabel 'time / LoRA time'
unset logscale y
set logscale x 2
set key top right
plot for [i=2:nm-1] dir.'/scaling_r.csv' using 1:(column(i+nm+1)) skip 1 title title(i) lc i pt i, \
     1.0 title 'LoRA' dashtype 2 lc rgb 'black'
