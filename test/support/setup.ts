// @peculiar/x509 needs the Reflect metadata API loaded before it; the product entry points do the same.
import 'reflect-metadata';
