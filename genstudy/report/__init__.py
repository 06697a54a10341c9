"""The report and the result tables, from the pipeline's outputs (never from MLflow).

markdown.py        numbers and pipe tables; html.py: the self-contained HTML page
figures.py         loss panels and generated-vs-real figures
m1_table.py        the M1 Table 1-style summary; gan_table.py: the GAN table
gan_overview.py    the report's GAN figures (stage gan_figures)
inputs.py          reading outputs, naming the stage behind a missing one
sections.py        M1 and GAN sections; theory_sections.py: the theory answers
assemble.py        the whole report: sections, wall times, provenance
"""
